#!/bin/bash
exec chrt --idle 0 $R/warren-base "$@"
