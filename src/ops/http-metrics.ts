import type { Metric, Registry } from "prom-client";

/**
 * HTTP request counts and latencies per route pattern, kept in plain numbers on the request path
 * and turned into Prometheus series only when scraped. prom-client's own `inc`/`observe` build a
 * label object and a hash string on every call; here a request costs a Map update and a bucket
 * scan, with nothing allocated once a route has seen a status.
 *
 *   peel_http_requests_total{route,method,status}     counter
 *   peel_http_request_duration_seconds{route,method}  histogram
 */

/** Upper bounds, seconds: sub-ms reads up to slow uploads. */
export const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One (route, method): its counts per status and its latency histogram. */
export class RouteSeries {
  readonly statusCounts = new Map<number, number>();
  /** per bucket of HTTP_BUCKETS, plus one for +Inf; not cumulative (that is done at scrape). */
  readonly buckets = new Float64Array(HTTP_BUCKETS.length + 1);
  sum = 0;

  constructor(
    readonly route: string,
    readonly method: string,
  ) {}

  record(status: number, seconds: number): void {
    this.statusCounts.set(status, (this.statusCounts.get(status) ?? 0) + 1);
    let i = 0;
    while (i < HTTP_BUCKETS.length && seconds > HTTP_BUCKETS[i]) i++;
    this.buckets[i]++;
    this.sum += seconds;
  }
}

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

/** A registry entry computed from the series at scrape time (prom-client duck-types `get()`). */
interface ScrapeMetric {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  get(): Promise<{ name: string; help: string; type: string; aggregator: "sum"; values: Sample[] }>;
}

export class HttpMetrics {
  private readonly series = new Map<string, RouteSeries>();

  /** The series of one route pattern and method; made once, kept by the caller. */
  seriesFor(route: string, method: string): RouteSeries {
    const key = `${method} ${route}`;
    let s = this.series.get(key);
    if (!s) {
      s = new RouteSeries(route, method);
      this.series.set(key, s);
    }
    return s;
  }

  register(registry: Registry): void {
    registry.registerMetric(this.requestsMetric() as unknown as Metric);
    registry.registerMetric(this.durationMetric() as unknown as Metric);
  }

  private requestsMetric(): ScrapeMetric {
    const m = {
      name: "peel_http_requests_total",
      help: "HTTP requests answered, by route pattern, method and status",
      type: "counter" as const,
      aggregator: "sum" as const,
      get: async () => {
        const values: Sample[] = [];
        for (const s of this.series.values()) {
          for (const [status, n] of s.statusCounts) {
            values.push({ labels: { route: s.route, method: s.method, status }, value: n });
          }
        }
        return { name: m.name, help: m.help, type: m.type, aggregator: m.aggregator, values };
      },
    };
    return m;
  }

  private durationMetric(): ScrapeMetric {
    const name = "peel_http_request_duration_seconds";
    const m = {
      name,
      help: "Time from a request's arrival to its response being sent, by route pattern and method",
      type: "histogram" as const,
      aggregator: "sum" as const,
      get: async () => {
        const values: Sample[] = [];
        for (const s of this.series.values()) {
          const base = { route: s.route, method: s.method };
          let cumulative = 0;
          for (let i = 0; i < s.buckets.length; i++) {
            cumulative += s.buckets[i];
            const le = i < HTTP_BUCKETS.length ? HTTP_BUCKETS[i] : "+Inf";
            values.push({ metricName: `${name}_bucket`, labels: { ...base, le }, value: cumulative });
          }
          values.push({ metricName: `${name}_sum`, labels: base, value: s.sum });
          values.push({ metricName: `${name}_count`, labels: base, value: cumulative });
        }
        return { name, help: m.help, type: m.type, aggregator: m.aggregator, values };
      },
    };
    return m;
  }
}
