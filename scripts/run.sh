#!/usr/bin/env bash
# `make run`: start coffer on this machine and say how to use it.
# Today that is one filer (the storage node); `coffer server` replaces it
# when the upload and download services land.
set -euo pipefail
bin=${1:-build/release/coffer}
dir=${COFFER_DATA:-./data}/filer1
listen=${COFFER_LISTEN:-127.0.0.1:8301}
url=http://$listen

cat <<TXT
Starting coffer filer 1 on $url with its data in $dir (Ctrl-C stops it).

Try, from another terminal:
  curl -X PUT --data-binary @README.md $url/o/docs/readme     # store (201, SHA-512 back)
  curl $url/o/docs/readme                                     # read it back
  curl -H 'Range: bytes=0-99' $url/o/docs/readme              # the first 100 bytes
  curl $url/status                                            # usage and counters
  curl "$url/list?limit=10"                                   # what is stored
  curl -X DELETE $url/o/docs/readme                           # remove it
See README.md ("The filer") for the whole API; $bin filer --help for settings.

TXT
exec "$bin" filer --id 1 --dir "$dir" --listen "$listen"
