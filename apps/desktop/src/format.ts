/** Small formatting helpers shared by the views. */

/** 1234 → "1,234". */
export function count(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** Seconds → "850 ms", "19.6 s", "2m 14s", "2h 14m". */
export function seconds(value: number): string {
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(1)} s`;
  const minutes = Math.floor(value / 60);
  if (minutes < 60) return `${minutes}m ${Math.floor(value % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** Milliseconds → "82 ms" / "1.2 s". */
export function milliseconds(value: number): string {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

/** Bytes → "312 MB". */
export function bytes(value: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size >= 100 || unit === 0 ? Math.round(size) : size.toFixed(1)} ${units[unit]}`;
}

/** ISO time → "14:23:01". */
export function clock(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleTimeString("en-GB", { hour12: false });
}

/** ISO time → "3m ago". */
export function ago(iso: string, now = Date.now()): string {
  const elapsed = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (elapsed < 45) return "just now";
  if (elapsed < 3600) return `${Math.round(elapsed / 60)}m ago`;
  if (elapsed < 86_400) return `${Math.round(elapsed / 3600)}h ago`;
  return `${Math.round(elapsed / 86_400)}d ago`;
}

/** The argument a tool card shows in its collapsed header (a path, a command, a pattern…). */
export function primaryArgument(args: Record<string, unknown>): string | undefined {
  for (const key of ["path", "command", "pattern", "query", "url", "file", "dir", "glob"]) {
    const value = args[key];
    if (typeof value === "string" && value) return value;
  }
  const first = Object.values(args).find((value) => typeof value === "string");
  return typeof first === "string" ? first : undefined;
}

/** A payload as readable text: strings as they are, anything else as indented JSON. */
export function payload(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}
