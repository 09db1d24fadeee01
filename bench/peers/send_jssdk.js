// @aws-sdk/client-marketplace-metering against meter-sandbox: one client,
// N concurrent promise loops (Node's event loop: one thread), each calling
// MeterUsage (one record) or BatchMeterUsage (K records) with the same
// parameters as the libmeter benchmark (bench/bench_send.c). Keep-alive is
// the SDK's default (NodeHttpHandler, keepAlive: true). Prints one JSON line
// per timed run; the first run is a warm-up.
//
// usage: node send_jssdk.js URL meter|batch --concurrency N --time EPOCH_S
//        [--batch K] [--seconds S] [--runs N] [--warmup S]
"use strict";
const fs = require("fs");
const path = require("path");
const {
  MarketplaceMeteringClient,
  MeterUsageCommand,
  BatchMeterUsageCommand,
} = require("@aws-sdk/client-marketplace-metering");

function args() {
  const v = process.argv.slice(2);
  const a = { url: v[0], op: v[1], concurrency: 1, batch: 25, time: 0, seconds: 2, runs: 5,
              warmup: 1, group: null };
  for (let i = 2; i < v.length; i++) {
    const k = v[i].replace(/^--/, "");
    a[k] = k === "group" ? v[++i] : Number(v[++i]);
  }
  return a;
}

function pkgVersion(name) {
  const p = path.join(__dirname, "..", "node_modules", name, "package.json");
  return JSON.parse(fs.readFileSync(p, "utf8")).version;
}

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.round(q * (sorted.length - 1))] : 0;
}

async function main() {
  const a = args();
  const client = new MarketplaceMeteringClient({
    endpoint: a.url,
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDSANDBOXEXAMPLE", secretAccessKey: "sandbox+secret/KEY/EXAMPLE" },
  });
  const ts = new Date(a.time * 1000);
  const perCall = a.op === "meter" ? 1 : a.batch;
  const call = async () => {
    if (a.op === "meter") {
      const r = await client.send(new MeterUsageCommand({
        ProductCode: "prod-bench-1234", Timestamp: ts, UsageDimension: "requests",
        UsageQuantity: 42, DryRun: false,
      }));
      return r.MeteringRecordId ? 1 : 0;
    }
    const records = [];
    for (let i = 0; i < a.batch; i++)
      records.push({ Timestamp: ts, CustomerIdentifier: "bench-customer-" + String(i).padStart(4, "0"),
                     Dimension: "requests", Quantity: 42 });
    const r = await client.send(new BatchMeterUsageCommand({ ProductCode: "prod-bench-1234",
                                                             UsageRecords: records }));
    return r.Results.filter((x) => x.Status === "Success").length;
  };
  const group = a.group || (a.op === "meter" ? "meter_usage" : "batch");
  const label = "@aws-sdk/client-marketplace-metering " + pkgVersion("@aws-sdk/client-marketplace-metering");
  let shown = false;
  for (let run = 0; run <= a.runs; run++) {
    const start = process.hrtime.bigint();
    const limit = BigInt(Math.round((run === 0 ? a.warmup : a.seconds) * 1e9));
    const lat = [];
    let ok = 0, errors = 0;
    const loop = async () => {
      while (process.hrtime.bigint() - start < limit) {
        const t0 = process.hrtime.bigint();
        try {
          const n = await call();
          ok += n;
          errors += perCall - n;
        } catch (e) {
          errors += perCall;
          if (!shown) { shown = true; console.error("js sdk:", e.name, e.message); }
        }
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    await Promise.all(Array.from({ length: a.concurrency }, loop));
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    if (run === 0) continue;
    lat.sort((x, y) => x - y);
    console.log(JSON.stringify({
      group, client: label, run, concurrency: a.concurrency, batch: perCall, calls: lat.length,
      seconds: secs, rps: lat.length / secs, records_per_s: ok / secs,
      p50_ms: percentile(lat, 0.5), p99_ms: percentile(lat, 0.99), errors,
    }));
  }
  client.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
