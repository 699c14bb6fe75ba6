import type { StatusSummary } from "./summary.js";

const escapeXml = (text: string) =>
  text.replace(/[<>&"']/g, (char) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[char]!);

/** `GET status.<domain>/feed.atom`: one entry per incident, its timeline as the content. */
export function incidentFeed(summary: StatusSummary, origin: string): string {
  const updated = summary.incidents[0]?.updatedAt ?? summary.generatedAt;
  const entries = summary.incidents.map((incident) => {
    const timeline = incident.updates
      .map((update) => `${update.at} ${update.status}: ${update.body}`)
      .reverse()
      .join("\n");
    return [
      "  <entry>",
      `    <id>${escapeXml(`${origin}/#${incident.id}`)}</id>`,
      `    <title>${escapeXml(`[${incident.status}] ${incident.title}`)}</title>`,
      `    <link href="${escapeXml(`${origin}/#${incident.id}`)}"/>`,
      `    <published>${incident.createdAt}</published>`,
      `    <updated>${incident.updatedAt}</updated>`,
      `    <content type="text">${escapeXml(timeline)}</content>`,
      "  </entry>",
    ].join("\n");
  });
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    `  <id>${escapeXml(`${origin}/feed.atom`)}</id>`,
    "  <title>Opta status: incidents</title>",
    `  <link rel="self" href="${escapeXml(`${origin}/feed.atom`)}"/>`,
    `  <link href="${escapeXml(`${origin}/`)}"/>`,
    `  <updated>${updated}</updated>`,
    "  <author><name>Opta status</name></author>",
    ...entries,
    "</feed>",
    "",
  ].join("\n");
}
