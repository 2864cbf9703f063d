"""The Python `resumable-upload` tus server on 127.0.0.1, for the interop tests of the Rust
client (cli/tests/client_interop.rs). Prints `listening http://127.0.0.1:PORT/files` once
ready; downloads (GET) are on.

    python server.py --dir DIR [--port PORT] [--checksum-algorithms sha1,md5] [--disable-concatenation]
"""

import argparse
import os
import signal
import sys
from http.server import ThreadingHTTPServer

from resumable_upload.server import TusHTTPRequestHandler, TusServer
from resumable_upload.storage import SQLiteStorage


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--checksum-algorithms", default="sha1")
    parser.add_argument("--disable-concatenation", action="store_true")
    args = parser.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    storage = SQLiteStorage(
        db_path=os.path.join(args.dir, "uploads.db"),
        upload_dir=os.path.join(args.dir, "files"),
    )
    tus = TusServer(
        storage=storage,
        base_path="/files",
        checksum_algorithms=tuple(a for a in args.checksum_algorithms.split(",") if a),
        supports_checksum_trailer=True,
        enable_downloads=True,
        disable_concatenation=args.disable_concatenation,
    )

    class Handler(TusHTTPRequestHandler):
        pass

    Handler.tus_server = tus
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening http://127.0.0.1:{httpd.server_address[1]}/files", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
