#!/bin/bash
WARREN_X_IOFLOAT=1 exec $R/warren-x2 "$@"
