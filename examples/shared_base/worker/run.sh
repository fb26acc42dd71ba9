#!/bin/sh
echo "worker started"
