#!/bin/sh
echo "api listening on 8080"
