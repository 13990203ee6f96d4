#!/bin/bash
exec nice -n 10 $R/warren-base "$@"
