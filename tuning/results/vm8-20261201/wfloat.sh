#!/bin/bash
WARREN_X_WFLOAT=1 exec $R/warren-x3 "$@"
