// @smithy/signature-v4 (the signer of the AWS SDK for JavaScript v3) signing
// the request of bench/sigv4_request.json on one thread, with the sha256 the
// SDK's clients use in Node (Sha256 of @smithy/core/checksum: node:crypto).
// A fresh HttpRequest per signature, signed at the current time. The signer
// caches derived signing keys itself (as libmeter's cached mode).
//
// usage: node sigv4_smithy.js FILE [--seconds S] [--runs N] [--warmup S] [--check]
"use strict";
const fs = require("fs");
const { SignatureV4 } = require("@smithy/signature-v4");
const { HttpRequest } = require("@smithy/protocol-http");
const { Sha256 } = require("@smithy/core/checksum");

function args() {
  const a = { file: null, seconds: 1, runs: 5, warmup: 0.5, check: false };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    if (v[i] === "--seconds") a.seconds = Number(v[++i]);
    else if (v[i] === "--runs") a.runs = Number(v[++i]);
    else if (v[i] === "--warmup") a.warmup = Number(v[++i]);
    else if (v[i] === "--check") a.check = true;
    else a.file = v[i];
  }
  return a;
}

// The installed version (read from node_modules: "exports" may hide package.json).
function pkgVersion(name) {
  const p = require("path").join(__dirname, "..", "node_modules", name, "package.json");
  return JSON.parse(fs.readFileSync(p, "utf8")).version;
}

async function main() {
  const a = args();
  const spec = JSON.parse(fs.readFileSync(a.file, "utf8"));
  // The signer as the SDK configures it, which also signs an
  // x-amz-content-sha256 header (applyChecksum defaults to true); --check
  // leaves that header out so its signature is comparable with the others.
  const signer = new SignatureV4({
    credentials: { accessKeyId: spec.access_key_id, secretAccessKey: spec.secret_access_key },
    region: spec.region,
    service: spec.service,
    sha256: Sha256,
    applyChecksum: !a.check,
  });
  const url = new URL(spec.url);
  const sign = (date) =>
    signer.sign(
      new HttpRequest({
        method: spec.method,
        protocol: url.protocol,
        hostname: url.hostname,
        path: url.pathname,
        headers: { ...spec.headers, host: url.hostname },
        body: spec.body,
      }),
      date ? { signingDate: date } : undefined
    );
  if (a.check) {
    const signed = await sign(new Date(spec.check_time_epoch * 1000));
    console.log(signed.headers.authorization);
    return;
  }
  const version = pkgVersion("@smithy/signature-v4");
  for (let run = 0; run <= a.runs; run++) {
    const limit = run === 0 ? a.warmup : a.seconds;
    let n = 0;
    const t0 = process.hrtime.bigint();
    let t;
    for (;;) {
      for (let k = 0; k < 16; k++) await sign();
      n += 16;
      t = Number(process.hrtime.bigint() - t0) / 1e9;
      if (t >= limit) break;
    }
    if (run === 0) continue;
    console.log(JSON.stringify({ group: "sigv4", client: `@smithy/signature-v4 ${version}`, run,
                                 signs_per_s: n / t, us_per_sign: (t * 1e6) / n }));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
