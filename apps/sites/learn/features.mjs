// The feature explorer's contents, in the five groups the course uses. Each entry says what the
// feature does, where to reach it, and which doc has the details (all in docs/, served on help).
export const FEATURE_GROUPS = [
  {
    group: "TUI",
    features: [
      {
        name: "Full-screen chat",
        how: "`opta tui` (or `opta tui --session <id>` to reopen one)",
        what: "A timeline of your messages, streamed answers, thinking and tool cards, a status bar with the model, mode and connection, and a multi-line composer. It is a client of the daemon: leaving does not stop a turn.",
        doc: "tui.md",
      },
      {
        name: "Model picker",
        how: "<kbd>Tab</kbd>",
        what: "Every model of every configured provider, searchable; the choice applies to the next turns of this session.",
        doc: "tui.md",
      },
      {
        name: "Menu and custom commands",
        how: "<kbd>Ctrl+K</kbd> or <kbd>/</kbd>",
        what: "The command palette: sessions, modes, rewind, export, and your own commands — each `$OPTA_HOME/commands/<name>.md` becomes `/<name>`.",
        doc: "tui.md",
      },
      {
        name: "Approvals in place",
        how: "<kbd>y</kbd> <kbd>n</kbd> <kbd>a</kbd>",
        what: "A box above the composer names the tool, its risk, its arguments and why it asks; requests queue, and one answered in another client disappears.",
        doc: "tui.md",
      },
    ],
  },
  {
    group: "Daemon",
    features: [
      {
        name: "Sessions as event logs",
        how: "`opta sessions list | show | export`",
        what: "Each session is an append-only JSONL file: one event per line, `seq` from 1 without gaps. Clients resume from the last `seq` they saw, so nothing is lost or shown twice across reconnects and restarts.",
        doc: "architecture.md",
      },
      {
        name: "Live event stream",
        how: "WebSocket, `@opta/daemon-client`",
        what: "`turn.token`, `tool.call`, `permission.request`, `turn.done`… the same objects as the JSONL lines, pushed to every client. The replay below plays one session's stream.",
        doc: "api.md",
      },
      {
        name: "Lifecycle and service",
        how: "`opta daemon start | restart | status | logs | install`",
        what: "Restart in place (same port, a new token, clients reconnect by themselves); install as a login service that is restarted after a crash.",
        doc: "cli.md",
      },
      {
        name: "Checkpoints, rewind and fork",
        how: "`opta sessions rewind <id> --to TURN`",
        what: "Files are copied before each write, so a turn and everything after it can be undone — files, conversation or both — or the session forked at a turn.",
        doc: "agent.md",
      },
    ],
  },
  {
    group: "Intelligence",
    features: [
      {
        name: "Opta LMX",
        how: "`opta lmx start`, `opta lmx pull`, `load`, `unload`",
        what: "Serve GGUF models from your own machine with an OpenAI-compatible API, a KV cache that turns reuse, and a dashboard with memory and live throughput.",
        doc: "lmx.md",
      },
      {
        name: "Providers and fallback",
        how: "`opta config`, `opta doctor`",
        what: "LMX, OpenAI, Anthropic or any OpenAI-compatible server; routing picks one per model, and a `provider.fallback` event says when another one answered.",
        doc: "providers.md",
      },
      {
        name: "Extended thinking",
        how: "<kbd>Ctrl+T</kbd> in the TUI",
        what: "Reasoning streams as `turn.thinking`, shown folded and counted apart from the answer's tokens.",
        doc: "agent.md",
      },
      {
        name: "Per-turn system prompt",
        how: "`opta sessions show <id> --system`",
        what: "Built for each turn from the tools, your AGENTS.md files, the mode and the environment; its summary (parts, sizes, hash) is an event, so you can see what the model was told.",
        doc: "agent.md",
      },
    ],
  },
  {
    group: "Automation",
    features: [
      {
        name: "The agent loop",
        how: '`opta do "<task>"`, Do mode',
        what: "Read, edit, run, read the result, repeat — until the task is done, a step limit is reached, or you pause it at a step boundary and resume later.",
        doc: "agent.md",
      },
      {
        name: "Browser tools",
        how: "`browser_*` tools, `mcp.peekaboo: true`",
        what: "The agent can open pages, read them and act in them through the built-in browser MCP server; every browser call asks by default.",
        doc: "mcp.md",
      },
      {
        name: "MCP servers",
        how: "`opta mcp add`, `.opta/mcp.yaml`",
        what: "Tools of any Model Context Protocol server appear as `server__tool`, behind the same permission gate.",
        doc: "mcp.md",
      },
      {
        name: "Hooks",
        how: "`.opta/hooks.yaml`",
        what: "Commands the daemon runs before a tool call (which can refuse it), after one (a formatter, a linter) and at the end of a turn; each run is a `hook.ran` event.",
        doc: "agent.md",
      },
    ],
  },
  {
    group: "Security",
    features: [
      {
        name: "Permission gate",
        how: "`.opta/policy.yaml`, levels safe / standard / unrestricted",
        what: "Every tool call is allowed, asked or denied by a rule you can read; shell commands are parsed with a real grammar, part by part.",
        doc: "permissions.md",
      },
      {
        name: "Sandbox",
        how: "bubblewrap on Linux, Seatbelt on macOS",
        what: "Commands see the workspace writable and the rest read-only, no network by default, `.opta/` read-only and the Opta home hidden.",
        doc: "permissions.md",
      },
      {
        name: "Credential vault",
        how: "`opta config`, `opta account sync push | pull`",
        what: "Provider keys are kept out of config files and logs, masked if a tool prints them, and synced between your devices end-to-end encrypted: the platform never sees a key.",
        doc: "platform.md",
      },
      {
        name: "Client grants",
        how: "`opta app grants`, `opta app revoke`",
        what: "Code Desktop windows get revocable grants instead of the daemon token, so a restart does not sign them out and a lost machine can be cut off.",
        doc: "desktop.md",
      },
    ],
  },
];
