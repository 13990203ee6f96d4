#!/bin/bash
exec chrt --batch 0 $R/warren-base "$@"
