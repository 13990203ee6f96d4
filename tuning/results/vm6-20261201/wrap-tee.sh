#!/bin/bash
# warren ($WBIN) with its stats lines (stdout) copied to $TEE_OUT.
exec > >(tee "${TEE_OUT:?}")
exec ${WBIN:?} "$@"
