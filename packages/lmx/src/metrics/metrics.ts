/** Label values of one series. */
type Labels = Record<string, string>;

/** Endpoints left out of {@link LmxMetrics.servedRequests}: probes, scrapes and the dashboard watching itself. */
const UNSERVED_ENDPOINTS = /^(health|metrics|dashboard.*)$/;

const TTFT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function labelKey(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([key, value]) => `${key}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`;
}

/** A snapshot source for gauges whose values live elsewhere (queue depth, loaded models, memory). */
export type GaugeSample = { name: string; help: string; labels?: Labels; value: number };

/**
 * LMX's metrics in Prometheus text exposition format 0.0.4: request and token counters, a
 * time-to-first-token histogram, the last decode rate per model, and gauges read at scrape time.
 */
export class LmxMetrics {
  private readonly requests = new Map<string, number>();
  private readonly promptTokens = new Map<string, number>();
  private readonly generatedTokens = new Map<string, number>();
  private readonly tokensPerSecond = new Map<string, number>();
  private readonly ttftCounts = new Array<number>(TTFT_BUCKETS.length).fill(0);
  private ttftSum = 0;
  private ttftCount = 0;
  private readonly startedAt = Date.now();
  private served = 0;

  constructor(private readonly gauges: () => GaugeSample[] = () => []) {}

  /** Counts one finished HTTP request. */
  recordRequest(endpoint: string, status: number): void {
    const key = labelKey({ endpoint, status: String(status) });
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    if (!UNSERVED_ENDPOINTS.test(endpoint)) this.served++;
  }

  /** Finished requests other than probes and the dashboard's own (its request rate counts these). */
  get servedRequests(): number {
    return this.served;
  }

  /** Records one finished generation: token counts and its decode rate. */
  recordGeneration(model: string, prompt: number, generated: number, decodeSeconds: number): void {
    const key = labelKey({ model });
    this.promptTokens.set(key, (this.promptTokens.get(key) ?? 0) + prompt);
    this.generatedTokens.set(key, (this.generatedTokens.get(key) ?? 0) + generated);
    if (generated > 1 && decodeSeconds > 0) this.tokensPerSecond.set(key, (generated - 1) / decodeSeconds);
  }

  /** Records a time to first token, in seconds. */
  recordTimeToFirstToken(seconds: number): void {
    this.ttftSum += seconds;
    this.ttftCount++;
    for (const [index, bound] of TTFT_BUCKETS.entries()) if (seconds <= bound) this.ttftCounts[index]!++;
  }

  /** The exposition text. */
  render(): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string, series: Map<string, number>): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of series) lines.push(`${name}${labels} ${value}`);
    };
    family("lmx_requests_total", "counter", "HTTP requests by endpoint and status.", this.requests);
    family("lmx_prompt_tokens_total", "counter", "Prompt tokens processed.", this.promptTokens);
    family("lmx_generated_tokens_total", "counter", "Tokens generated.", this.generatedTokens);
    family("lmx_tokens_per_second", "gauge", "Decode rate of the last generation per model.", this.tokensPerSecond);
    lines.push(
      "# HELP lmx_time_to_first_token_seconds Time from request arrival to the first generated token.",
      "# TYPE lmx_time_to_first_token_seconds histogram",
    );
    for (const [index, bound] of TTFT_BUCKETS.entries()) {
      lines.push(`lmx_time_to_first_token_seconds_bucket{le="${bound}"} ${this.ttftCounts[index]}`);
    }
    lines.push(
      `lmx_time_to_first_token_seconds_bucket{le="+Inf"} ${this.ttftCount}`,
      `lmx_time_to_first_token_seconds_sum ${this.ttftSum}`,
      `lmx_time_to_first_token_seconds_count ${this.ttftCount}`,
    );
    const grouped = new Map<string, { help: string; series: Map<string, number> }>();
    const memory = process.memoryUsage();
    const samples: GaugeSample[] = [
      ...this.gauges(),
      { name: "lmx_process_resident_memory_bytes", help: "Resident memory of the LMX process.", value: memory.rss },
      { name: "lmx_uptime_seconds", help: "Seconds since LMX started.", value: (Date.now() - this.startedAt) / 1000 },
    ];
    for (const sample of samples) {
      let entry = grouped.get(sample.name);
      if (!entry) {
        entry = { help: sample.help, series: new Map() };
        grouped.set(sample.name, entry);
      }
      entry.series.set(labelKey(sample.labels ?? {}), sample.value);
    }
    for (const [name, { help, series }] of grouped) family(name, "gauge", help, series);
    return `${lines.join("\n")}\n`;
  }
}
