#!/bin/bash
WARREN_X_SAMECORE=1 exec $R/warren-x "$@"
