// Drives a tus server with tus-js-client (its Node build) for the process-level tests
// of the `tus` binary (cli/tests/interop_js.rs) and of the example apps
// (examples/*-app/tests/interop.rs), run by examples/harness/src/interop.rs.
//
//   [TUS_BEARER_TOKEN=token] node run.mjs <scenario> <endpoint> <file> [workdir]
//
// With TUS_BEARER_TOKEN set, every request (uploads, terminations) carries
// `Authorization: Bearer <token>`.
//
// Uploads <file> to <endpoint> the way <scenario> says, checks what the client saw,
// and prints one line `RESULT {json}` (the upload URL and what was observed) on
// success. Any failure exits non-zero with the reason on stderr. The caller compares
// the uploaded bytes with <file> itself, by downloading them from the server.

import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import * as tus from 'tus-js-client'

const MiB = 1024 * 1024
const [scenario, endpoint, file, workdir = path.dirname(file ?? '.')] = process.argv.slice(2)

// Every Upload and Upload.terminate merges tus.defaultOptions into its own options, so the
// token reaches every request of every scenario without each one passing it.
const bearer = process.env.TUS_BEARER_TOKEN
if (bearer) {
  tus.defaultOptions.headers = { ...tus.defaultOptions.headers, Authorization: `Bearer ${bearer}` }
}

function fail(message) {
  throw new Error(`${scenario}: ${message}`)
}

function check(condition, message) {
  if (!condition) fail(message)
}

// Records every request the client sends (method, override, offset, body size hint).
function recorder() {
  const requests = []
  return {
    requests,
    onBeforeRequest(req) {
      requests.push({
        method: req.getMethod(),
        url: req.getURL(),
        override: req.getHeader('X-HTTP-Method-Override') ?? null,
        offset: req.getHeader('Upload-Offset') ?? null,
        length: req.getHeader('Upload-Length') ?? null,
        deferLength: req.getHeader('Upload-Defer-Length') ?? null,
        concat: req.getHeader('Upload-Concat') ?? null,
        contentType: req.getHeader('Content-Type') ?? null,
      })
    },
  }
}

// A loopback TCP proxy to the server that forwards at most `bytesPerSecond` from the
// client and stops reading while it is ahead (back-pressure), so a client can never get
// far ahead of what the server has received: an abort at a given progress then always
// lands mid-request, however fast or loaded the machine is. Resolves with the proxied
// endpoint and a close function.
function throttlingProxy(bytesPerSecond) {
  const target = new URL(endpoint)
  const sockets = new Set()
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname)
    sockets.add(client).add(upstream)
    const started = Date.now()
    let forwarded = 0
    client.on('data', (chunk) => {
      forwarded += chunk.length
      const ahead = forwarded / bytesPerSecond - (Date.now() - started) / 1000
      if (!upstream.write(chunk) || ahead > 0) {
        client.pause()
        const resume = () => setTimeout(() => client.resume(), Math.max(0, ahead * 1000))
        if (upstream.writableNeedDrain) upstream.once('drain', resume)
        else resume()
      }
    })
    upstream.pipe(client)
    client.on('end', () => upstream.end())
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const proxied = new URL(endpoint)
      proxied.port = String(server.address().port)
      resolve({
        endpoint: proxied.toString(),
        close: () => {
          for (const s of sockets) s.destroy()
          server.close()
        },
      })
    })
  })
}

// Runs one upload to completion (or to its first error) and resolves with its URL.
function upload(input, options) {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(input, {
      endpoint,
      retryDelays: [],
      ...options,
      onError: (err) => reject(err),
      onSuccess: () => resolve(u.url),
    })
    u.start()
  })
}

// Polls HEAD on `url` until it reports a non-zero Upload-Offset or `timeoutMs` passes.
async function waitForOffset(url, timeoutMs) {
  const headers = { 'Tus-Resumable': '1.0.0', ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}) }
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const res = await fetch(url, { method: 'HEAD', headers }).catch(() => null)
    if (Number(res?.headers.get('upload-offset') ?? 0) > 0) return
    await new Promise((r) => setTimeout(r, 100))
  }
}

const count = (requests, method) => requests.filter((r) => r.method === method).length

const scenarios = {
  // A whole file in one PATCH, with metadata.
  async small() {
    const data = fs.readFileSync(file)
    const rec = recorder()
    const url = await upload(data, {
      metadata: { filename: path.basename(file), filetype: 'application/octet-stream' },
      onBeforeRequest: rec.onBeforeRequest,
    })
    check(count(rec.requests, 'POST') === 1, `expected one POST, saw ${JSON.stringify(rec.requests)}`)
    check(count(rec.requests, 'PATCH') === 1, `expected one PATCH, saw ${JSON.stringify(rec.requests)}`)
    return { url, requests: rec.requests }
  },

  // A 0-byte file: creation alone completes it.
  async empty() {
    const data = fs.readFileSync(file)
    check(data.length === 0, 'the file for this scenario must be empty')
    const rec = recorder()
    const url = await upload(data, { metadata: { filename: 'empty.bin' }, onBeforeRequest: rec.onBeforeRequest })
    check(count(rec.requests, 'POST') === 1, `expected one POST, saw ${JSON.stringify(rec.requests)}`)
    return { url, requests: rec.requests }
  },

  // Many 5 MiB PATCHes, each acknowledged with the right offset.
  async chunked() {
    const data = fs.readFileSync(file)
    const chunkSize = 5 * MiB
    const rec = recorder()
    const acked = []
    const url = await upload(data, {
      chunkSize,
      onBeforeRequest: rec.onBeforeRequest,
      onChunkComplete: (_size, accepted) => acked.push(accepted),
    })
    const expected = Math.ceil(data.length / chunkSize)
    check(count(rec.requests, 'PATCH') === expected, `expected ${expected} PATCHes, saw ${count(rec.requests, 'PATCH')}`)
    const offsets = rec.requests.filter((r) => r.method === 'PATCH').map((r) => Number(r.offset))
    offsets.forEach((o, i) => check(o === i * chunkSize, `PATCH ${i} went to offset ${o}`))
    check(acked.at(-1) === data.length, `last acknowledged offset ${acked.at(-1)} != ${data.length}`)
    return { url, patches: offsets.length }
  },

  // Stop between chunks, then resume from a NEW client instance that finds the upload
  // through a file-based URL storage (fingerprint of the file).
  async 'resume-storage'() {
    const data = fs.readFileSync(file)
    const urlStorage = new tus.FileUrlStorage(path.join(workdir, 'tus-url-storage.json'))
    const chunkSize = 4 * MiB
    let firstUrl = null
    await new Promise((resolve, reject) => {
      const u = new tus.Upload(data, {
        endpoint,
        chunkSize,
        retryDelays: [],
        urlStorage,
        onError: reject,
        onSuccess: () => reject(new Error('the first instance finished although it was aborted')),
        onChunkComplete: (_size, accepted) => {
          if (accepted >= 3 * chunkSize) {
            firstUrl = u.url
            u.abort().then(resolve, reject)
          }
        },
      })
      u.start()
    })
    check(firstUrl, 'no upload URL after the first chunks')

    const rec = recorder()
    const second = new tus.Upload(data, {
      endpoint,
      chunkSize,
      retryDelays: [],
      urlStorage,
      onBeforeRequest: rec.onBeforeRequest,
    })
    const previous = await second.findPreviousUploads()
    check(previous.length === 1, `expected one stored upload, found ${previous.length}`)
    check(previous[0].uploadUrl === firstUrl, `stored URL ${previous[0].uploadUrl} != ${firstUrl}`)
    second.resumeFromPreviousUpload(previous[0])
    const url = await new Promise((resolve, reject) => {
      second.options.onError = reject
      second.options.onSuccess = () => resolve(second.url)
      second.start()
    })
    check(url === firstUrl, `resumed into ${url}, not ${firstUrl}`)
    check(count(rec.requests, 'POST') === 0, 'the resuming instance created a new upload')
    check(count(rec.requests, 'HEAD') === 1, 'the resuming instance did not ask for the offset')
    const firstPatch = rec.requests.find((r) => r.method === 'PATCH')
    check(Number(firstPatch?.offset) === 3 * chunkSize, `resumed at ${firstPatch?.offset}, not ${3 * chunkSize}`)
    return { url, resumedAt: Number(firstPatch.offset) }
  },

  // Cut the connection in the middle of one big PATCH, then resume with a new client
  // given the upload URL: the server must have kept what it received.
  async 'resume-mid-request'() {
    const size = fs.statSync(file).size
    // 32 MiB/s: the 48 MiB PATCH takes 1.5 s through the proxy, so the abort at 16 MiB
    // sent cannot come after the server has everything.
    const proxy = await throttlingProxy(32 * MiB)
    let firstUrl = null
    await new Promise((resolve, reject) => {
      let aborted = false
      // A file stream (read in slices from the path) reports progress for every piece it
      // writes, so the abort lands in the middle of the one big PATCH.
      const u = new tus.Upload(fs.createReadStream(file), {
        endpoint: proxy.endpoint,
        retryDelays: [],
        onError: reject,
        onSuccess: () => reject(new Error('the first instance finished although it was aborted')),
        onProgress: (sent) => {
          if (!aborted && sent >= 16 * MiB) {
            aborted = true
            firstUrl = u.url
            u.abort().then(resolve, reject)
          }
        },
      })
      u.start()
    })
    proxy.close()
    check(firstUrl, 'no upload URL before the abort')
    // The URL points at the proxy: resume directly against the server.
    firstUrl = new URL(new URL(firstUrl).pathname, endpoint).toString()
    // The server persists the cut request once it notices the closed connection; how long
    // that takes depends on the storage (a cloud emulator on a loaded machine: seconds).
    // Wait until HEAD shows bytes, at most 20 s; the check below fails if none ever do.
    await waitForOffset(firstUrl, 20_000)

    const rec = recorder()
    const url = await upload(fs.createReadStream(file), {
      uploadUrl: firstUrl,
      // The server may still be finishing the cut request: a 423 or 409 is retried after a HEAD.
      retryDelays: [200, 500, 1000, 2000],
      onBeforeRequest: rec.onBeforeRequest,
    })
    check(url === firstUrl, `resumed into ${url}, not ${firstUrl}`)
    check(count(rec.requests, 'POST') === 0, 'the resuming instance created a new upload')
    const firstPatch = rec.requests.find((r) => r.method === 'PATCH')
    const resumedAt = Number(firstPatch?.offset)
    check(resumedAt > 0, `the server kept nothing of the cut request (resumed at ${firstPatch?.offset})`)
    check(resumedAt < size, `resumed at ${resumedAt}: the whole file had arrived before the abort`)
    return { url, resumedAt }
  },

  // Four partial uploads in parallel, concatenated into a final upload.
  async parallel() {
    const data = fs.readFileSync(file)
    const rec = recorder()
    const url = await upload(data, {
      parallelUploads: 4,
      metadata: { filename: 'parallel.bin' },
      onBeforeRequest: rec.onBeforeRequest,
    })
    const partials = rec.requests.filter((r) => r.method === 'POST' && r.concat === 'partial')
    const finals = rec.requests.filter((r) => r.method === 'POST' && r.concat?.startsWith('final;'))
    check(partials.length === 4, `expected 4 partial uploads, saw ${partials.length}`)
    check(finals.length === 1, `expected one final upload, saw ${finals.length}`)
    return { url, partials: partials.length }
  },

  // A stream of unknown length: Upload-Defer-Length, then the length on the last PATCH.
  async deferred() {
    const stream = fs.createReadStream(file, { highWaterMark: 256 * 1024 })
    // A plain Readable (not a ReadStream) so that the client cannot stat the file.
    const input = Readable.from(stream)
    const rec = recorder()
    const url = await upload(input, {
      uploadLengthDeferred: true,
      chunkSize: 1 * MiB,
      onBeforeRequest: rec.onBeforeRequest,
    })
    const post = rec.requests.find((r) => r.method === 'POST')
    check(post?.deferLength === '1', `the POST did not defer the length: ${JSON.stringify(post)}`)
    check(post?.length === null, 'the POST sent Upload-Length although the length was deferred')
    const withLength = rec.requests.filter((r) => r.method === 'PATCH' && r.length !== null)
    check(withLength.length >= 1, 'no PATCH declared the length')
    return { url, patches: count(rec.requests, 'PATCH') }
  },

  // creation-with-upload: the data rides on the POST; no PATCH is needed.
  async 'creation-with-upload'() {
    const data = fs.readFileSync(file)
    const rec = recorder()
    const url = await upload(data, { uploadDataDuringCreation: true, onBeforeRequest: rec.onBeforeRequest })
    const post = rec.requests.find((r) => r.method === 'POST')
    check(post?.contentType === 'application/offset+octet-stream', `the POST carried no data: ${JSON.stringify(post)}`)
    check(count(rec.requests, 'PATCH') === 0, `the server did not take the data with the POST: ${JSON.stringify(rec.requests)}`)
    return { url, requests: rec.requests }
  },

  // PATCH sent as POST with X-HTTP-Method-Override.
  async 'override-patch'() {
    const data = fs.readFileSync(file)
    const rec = recorder()
    const url = await upload(data, { overridePatchMethod: true, chunkSize: 1 * MiB, onBeforeRequest: rec.onBeforeRequest })
    check(count(rec.requests, 'PATCH') === 0, 'a real PATCH was sent')
    const overridden = rec.requests.filter((r) => r.method === 'POST' && r.override === 'PATCH')
    check(overridden.length === Math.ceil(data.length / MiB), `expected ${Math.ceil(data.length / MiB)} overridden PATCHes, saw ${overridden.length}`)
    return { url, patches: overridden.length }
  },

  // Abort with termination part-way: the upload must be gone from the server.
  async 'terminate-abort'() {
    const data = fs.readFileSync(file)
    const chunkSize = 1 * MiB
    const url = await new Promise((resolve, reject) => {
      const u = new tus.Upload(data, {
        endpoint,
        chunkSize,
        retryDelays: [],
        onError: reject,
        onSuccess: () => reject(new Error('finished although it was aborted')),
        onChunkComplete: (_size, accepted) => {
          if (accepted >= 2 * chunkSize) {
            const at = u.url
            u.abort(true).then(() => resolve(at), reject)
          }
        },
      })
      u.start()
    })
    return { url }
  },

  // Upload completely, then terminate with the static API.
  async 'terminate-after'() {
    const data = fs.readFileSync(file)
    const url = await upload(data, {})
    await tus.Upload.terminate(url, { retryDelays: [] })
    let refused = null
    try {
      await tus.Upload.terminate(url, { retryDelays: [] })
    } catch (err) {
      refused = err.originalResponse?.getStatus() ?? String(err)
    }
    check(refused === 404 || refused === 410, `a second DELETE was answered ${refused}, not 404/410`)
    return { url }
  },

  // Unicode keys' values and an empty value survive the trip.
  async metadata() {
    const data = fs.readFileSync(file)
    const url = await upload(data, {
      metadata: {
        filename: 'résumé 履歴書 🚀.txt',
        filetype: 'text/plain',
        empty: '',
        note: 'ünïcödé, with comma and spaces',
      },
    })
    return { url }
  },
}

async function main() {
  const run = scenarios[scenario]
  if (!run || !endpoint || !file) {
    console.error(`usage: node run.mjs <${Object.keys(scenarios).join('|')}> <endpoint> <file> [workdir]`)
    process.exit(2)
  }
  const result = await run()
  console.log(`RESULT ${JSON.stringify(result)}`)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`FAILED ${scenario}: ${err?.stack ?? err}`)
    if (err?.originalResponse) {
      console.error(`response: ${err.originalResponse.getStatus()} ${err.originalResponse.getBody()}`)
    }
    process.exit(1)
  },
)
