import type { StatusSummary } from "./summary.js";

const escape = (text: string) =>
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
      `    <id>${escape(`${origin}/#${incident.id}`)}</id>`,
      `    <title>${escape(`[${incident.status}] ${incident.title}`)}</title>`,
      `    <link href="${escape(`${origin}/#${incident.id}`)}"/>`,
      `    <published>${incident.createdAt}</published>`,
      `    <updated>${incident.updatedAt}</updated>`,
      `    <content type="text">${escape(timeline)}</content>`,
      "  </entry>",
    ].join("\n");
  });
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    `  <id>${escape(`${origin}/feed.atom`)}</id>`,
    "  <title>Opta status: incidents</title>",
    `  <link rel="self" href="${escape(`${origin}/feed.atom`)}"/>`,
    `  <link href="${escape(`${origin}/`)}"/>`,
    `  <updated>${updated}</updated>`,
    "  <author><name>Opta status</name></author>",
    ...entries,
    "</feed>",
    "",
  ].join("\n");
}
