"""Drives a tus server with tuspy for the process-level tests of the `tus` binary
(cli/tests/interop_py.rs) and of the example apps (examples/*-app/tests/interop.rs), run
by examples/harness/src/interop.rs.

    [TUS_BEARER_TOKEN=token] python run.py <scenario> <endpoint> <file> [workdir]

With TUS_BEARER_TOKEN set, every request carries `Authorization: Bearer <token>`.

Uploads <file> to <endpoint> the way <scenario> says, checks what the client saw, and
prints one line `RESULT {json}` (the upload URL and what was observed) on success. Any
failure exits non-zero with the reason on stderr. The caller compares the uploaded bytes
with <file> itself, by downloading them from the server.

tuspy (1.1.0) has neither termination nor deferred length, so those are not here.
"""

import asyncio
import hashlib
import json
import os
import sys

import requests
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage import filestorage
from tusclient.uploader import Uploader

MiB = 1024 * 1024

# Headers of every request: the bearer token, when the server wants one.
HEADERS = {"Authorization": f"Bearer {os.environ['TUS_BEARER_TOKEN']}"} if os.environ.get("TUS_BEARER_TOKEN") else {}


def new_client(endpoint):
    """A tuspy client that sends HEADERS with every request."""
    return tus_client.TusClient(endpoint, headers=dict(HEADERS))


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class RecordingSession:
    """Counts the requests tuspy sends through `requests` (it calls the module functions)."""

    def __init__(self):
        self.requests = []
        self._originals = {}

    def __enter__(self):
        for name in ("post", "patch", "head"):
            original = getattr(requests, name)
            self._originals[name] = original

            def wrapper(url, *args, _name=name, _original=original, **kwargs):
                headers = {k.lower(): v for k, v in (kwargs.get("headers") or {}).items()}
                self.requests.append(
                    {
                        "method": _name.upper(),
                        "offset": headers.get("upload-offset"),
                        "checksum": headers.get("upload-checksum"),
                    }
                )
                return _original(url, *args, **kwargs)

            setattr(requests, name, wrapper)
        return self

    def __exit__(self, *exc):
        for name, original in self._originals.items():
            setattr(requests, name, original)

    def count(self, method):
        return sum(1 for r in self.requests if r["method"] == method)


def small(endpoint, path, workdir):
    client = new_client(endpoint)
    with RecordingSession() as rec:
        uploader = client.uploader(path, metadata={"filename": os.path.basename(path)})
        uploader.upload()
    check(rec.count("POST") == 1, f"expected one POST, saw {rec.requests}")
    expected_patches = 1 if os.path.getsize(path) > 0 else 0
    check(rec.count("PATCH") == expected_patches, f"expected {expected_patches} PATCH, saw {rec.requests}")
    check(uploader.offset == os.path.getsize(path), f"client offset {uploader.offset}")
    return {"url": uploader.url}


def chunked(endpoint, path, workdir):
    size = os.path.getsize(path)
    client = new_client(endpoint)
    with RecordingSession() as rec:
        uploader = client.uploader(path, chunk_size=5 * MiB)
        uploader.upload()
    offsets = [int(r["offset"]) for r in rec.requests if r["method"] == "PATCH"]
    check(offsets == list(range(0, size, 5 * MiB)), f"PATCH offsets {offsets}")
    return {"url": uploader.url, "patches": len(offsets)}


def resume_storage(endpoint, path, workdir):
    """Stop after 3 chunks; a new client and uploader find the URL in tuspy's file storage."""
    storage_path = os.path.join(workdir, "tuspy-urls.json")
    chunk = 4 * MiB
    check(os.path.getsize(path) > 3 * chunk, "the file for this scenario must be larger than 12 MiB")
    storage = filestorage.FileStorage(storage_path)
    first = new_client(endpoint).uploader(path, chunk_size=chunk, store_url=True, url_storage=storage)
    first.upload(stop_at=3 * chunk)
    check(first.offset == 3 * chunk, f"first uploader stopped at {first.offset}")
    first_url = first.url
    storage.close()

    storage = filestorage.FileStorage(storage_path)
    with RecordingSession() as rec:
        second = new_client(endpoint).uploader(
            path, chunk_size=chunk, store_url=True, url_storage=storage
        )
        check(second.url == first_url, f"stored URL {second.url} != {first_url}")
        check(second.offset == 3 * chunk, f"the server reports offset {second.offset}, not {3 * chunk}")
        second.upload()
    storage.close()
    check(rec.count("POST") == 0, "the resuming uploader created a new upload")
    first_patch = next(r for r in rec.requests if r["method"] == "PATCH")
    check(int(first_patch["offset"]) == 3 * chunk, f"resumed at {first_patch['offset']}")
    return {"url": second.url, "resumedAt": 3 * chunk}


def resume_url(endpoint, path, workdir):
    """Stop part-way; a new uploader given `url=` asks the server for the offset and goes on."""
    chunk = 1 * MiB
    check(os.path.getsize(path) > 2 * chunk, "the file for this scenario must be larger than 2 MiB")
    first = new_client(endpoint).uploader(path, chunk_size=chunk)
    first.upload(stop_at=2 * chunk)
    url = first.url
    with RecordingSession() as rec:
        second = new_client(endpoint).uploader(path, url=url, chunk_size=chunk)
        check(second.offset == 2 * chunk, f"the server reports offset {second.offset}, not {2 * chunk}")
        second.upload()
    check(rec.count("POST") == 0, "the resuming uploader created a new upload")
    check(rec.count("HEAD") == 1, "the resuming uploader did not ask for the offset")
    return {"url": url, "resumedAt": 2 * chunk}


def checksum(endpoint, path, workdir):
    """Upload-Checksum (sha1) on every PATCH, and a wrong checksum refused with 460."""
    size = os.path.getsize(path)
    chunk = 1 * MiB
    with RecordingSession() as rec:
        uploader = new_client(endpoint).uploader(path, chunk_size=chunk, upload_checksum=True)
        uploader.upload()
    patches = [r for r in rec.requests if r["method"] == "PATCH"]
    check(len(patches) == -(-size // chunk), f"expected {-(-size // chunk)} PATCHes, saw {len(patches)}")
    check(all((r["checksum"] or "").startswith("sha1 ") for r in patches), f"PATCHes without sha1: {patches}")

    class LyingUploader(Uploader):
        # The digest of different bytes: a server that verifies must refuse the chunk.
        CHECKSUM_ALGORITHM_PAIR = ("sha1", lambda data: hashlib.sha1(data + b"!"))

    client = new_client(endpoint)
    liar = LyingUploader(path, client=client, chunk_size=chunk, upload_checksum=True)
    status = None
    try:
        liar.upload()
    except TusUploadFailed as err:
        status = err.status_code
    check(status == 460, f"a wrong sha1 checksum was answered {status}, not 460")
    offset = liar.get_offset()
    check(offset == 0, f"the server stored {offset} bytes of a chunk whose checksum failed")
    return {"url": uploader.url, "badUrl": liar.url, "patches": len(patches)}


def metadata(endpoint, path, workdir):
    uploader = new_client(endpoint).uploader(
        path,
        metadata={
            "filename": "résumé 履歴書 🚀.txt",
            "filetype": "text/plain",
            "empty": "",
            "note": "ünïcödé, with comma and spaces",
        },
    )
    uploader.upload()
    return {"url": uploader.url}


def async_chunked(endpoint, path, workdir):
    """The aiohttp-based AsyncUploader, in 2 MiB chunks with checksums."""
    uploader = new_client(endpoint).async_uploader(path, chunk_size=2 * MiB, upload_checksum=True)
    asyncio.run(uploader.upload())
    check(uploader.offset == os.path.getsize(path), f"client offset {uploader.offset}")
    return {"url": uploader.url}


SCENARIOS = {
    "small": small,
    "empty": small,
    "chunked": chunked,
    "resume-storage": resume_storage,
    "resume-url": resume_url,
    "checksum": checksum,
    "metadata": metadata,
    "async": async_chunked,
}


def main(argv):
    if len(argv) < 4 or argv[1] not in SCENARIOS:
        print(f"usage: python run.py <{'|'.join(SCENARIOS)}> <endpoint> <file> [workdir]", file=sys.stderr)
        return 2
    scenario, endpoint, path = argv[1], argv[2], argv[3]
    workdir = argv[4] if len(argv) > 4 else os.path.dirname(os.path.abspath(path))
    if scenario == "empty" and os.path.getsize(path) != 0:
        print("the file for this scenario must be empty", file=sys.stderr)
        return 2
    try:
        result = SCENARIOS[scenario](endpoint, path, workdir)
    except (Failure, TusCommunicationError, TusUploadFailed) as err:
        detail = getattr(err, "response_content", None)
        print(f"FAILED {scenario}: {type(err).__name__}: {err} {detail!r}", file=sys.stderr)
        return 1
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
