// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell text, where ${…} is the shell's own syntax
import { beforeAll, describe, expect, it, vi } from "vitest";
import { joinShellWords, loadShellGrammar, parseShellCommand, splitShellCommand } from "../../src/permission/index.js";

beforeAll(() => loadShellGrammar());

/** The commands of a line, and whether the gate is sure of them. */
function read(command: string): { commands: string[][]; certain: boolean } {
  const parsed = parseShellCommand(command);
  return { commands: parsed.commands, certain: parsed.uncertain.length === 0 };
}

describe("parseShellCommand: commands the gate reads with certainty", () => {
  const cases: Array<[string, string[][]]> = [
    ["ls -la", [["ls", "-la"]]],
    ["  ls   -la  ", [["ls", "-la"]]],
    [
      "cd /x && rm -rf /",
      [
        ["cd", "/x"],
        ["rm", "-rf", "/"],
      ],
    ],
    ["a || b; c | d & e\nf", [["a"], ["b"], ["c"], ["d"], ["e"], ["f"]]],
    ["(cd sub; make) | tee log", [["cd", "sub"], ["make"], ["tee", "log"]]],
    ["bash script.sh", [["bash", "script.sh"]]],
    // Assignments that change how a command runs stay part of it; harmless ones are dropped.
    ["env FOO=1 BAR=2 npm test", [["FOO=1", "BAR=2", "npm", "test"]]],
    ["FOO=1 npm test", [["FOO=1", "npm", "test"]]],
    ["CI=1 NODE_ENV=test LC_ALL=C FORCE_COLOR=0 npm test", [["npm", "test"]]],
    ["env CI=true NO_COLOR=1 npm test", [["npm", "test"]]],
    ["GIT_DIR=/ git status", [["GIT_DIR=/", "git", "status"]]],
    ["GIT_PAGER='rm -rf ~' git log", [["GIT_PAGER=rm -rf ~", "git", "log"]]],
    ["CI=1 LD_PRELOAD=./x.so npm test", [["LD_PRELOAD=./x.so", "npm", "test"]]],
    ["FOO=1 env BAR=2 timeout 5 make", [["FOO=1", "BAR=2", "make"]]],
    ["CI=1; git status", [["git", "status"]]],
    ["sudo LD_PRELOAD=x ls", [["sudo"], ["LD_PRELOAD=x", "ls"]]],
    ["timeout -s KILL 10 nice -n 5 nohup time -p npm test", [["npm", "test"]]],
    ["command -v git", [["command", "-v", "git"]]],
    ["stdbuf -oL ionice -c 3 setsid make", [["make"]]],
    [
      "sudo -u root rm -rf /",
      [
        ["sudo", "-u", "root"],
        ["rm", "-rf", "/"],
      ],
    ],
    ["/usr/bin/env rm x", [["rm", "x"]]],
    ["for f in *.ts; do echo $f; done", [["echo", "$f"]]],
    [
      "if [ -f x ]; then rm x; fi",
      [
        ["[", "-f", "x", "]"],
        ["rm", "x"],
      ],
    ],
    [
      "{ echo a; echo b; }",
      [
        ["echo", "a"],
        ["echo", "b"],
      ],
    ],
    ["git commit -m 'a && b; c'", [["git", "commit", "-m", "a && b; c"]]],
    ['echo "a\\"b" \\rm', [["echo", 'a"b', "rm"]]],
    ["cat <<'EOF'\n$(id)\nEOF", [["cat"]]],
    ["cat <<EOF\nplain $HOME text\nEOF\nls", [["cat"], ["ls"]]],
    ["cat <<-EOF\n\tx\n\tEOF\nls", [["cat"], ["ls"]]],
    ["npm test # && rm -rf /", [["npm", "test"]]],
    ["echo a \\\n  b", [["echo", "a", "b"]]],
    // tree-sitter makes `-rf /` destinations of the redirection; the shell passes them to rm.
    ["rm >/dev/null -rf /", [["rm", "-rf", "/"]]],
    ["echo >&2 x", [["echo", "x"]]],
    ["", []],
  ];
  for (const [command, expected] of cases) {
    it(JSON.stringify(command), () => {
      expect(read(command)).toEqual({ commands: expected, certain: true });
    });
  }

  it("maps equivalent spellings to the same argv", () => {
    const spellings = [
      "npm test",
      "  npm   test ",
      "'npm' \"test\"",
      "env CI=1 npm test",
      "timeout 60 npm test",
      "n\\pm test",
    ];
    for (const spelling of spellings)
      expect(read(spelling), spelling).toEqual({ commands: [["npm", "test"]], certain: true });
  });
});

describe("parseShellCommand: what the gate cannot be sure of", () => {
  // Each: the command, and a word of the reason. The commands inside are still found, for deny rules.
  const cases: Array<[string, RegExp]> = [
    ["echo a\r# ; touch M", /carriage return/],
    ["echo a\f# ; touch M", /control character U\+000C/],
    ["echo ${x:-{}; touch M; echo }", /expansion with an operator/],
    ['echo "${x:-\'}"; touch M; echo "\'}"', /expansion with an operator/],
    ["echo $'\\\\'; touch M #'", /ANSI-C/],
    ["cat <<E\\ F\nx\nE F\ntouch M\nE\\ F\n", /delimiter .* is not a plain word/],
    ["cat <<EOF\n`id`\nEOF", /here-document runs a command substitution/],
    ["echo $(rm -rf /tmp/a)", /command substitution/],
    ["echo `whoami`", /command substitution/],
    ["X=$(curl evil)", /command substitution/],
    ["diff <(ls a) <(ls b)", /process substitution/],
    ["echo $((1+2))", /arithmetic/],
    ["bash -c 'npm test && git push'", /runs a string as a new command line/],
    ["eval 'rm -rf /'", /eval/],
    ["env -S 'rm -rf /'", /env. with options/],
    ["env -i LD_PRELOAD=./x.so npm test", /env. with options/],
    ["ls | xargs rm", /xargs/],
    ["find . -name '*.tmp' -exec rm {} \\;", /find. -exec/],
    ["exec rm x", /exec/],
    ["source ./env.sh", /source/],
    [". ./env.sh", /script file/],
    ["alias ls=rm; ls", /alias/],
    ["f() { rm x; }; f", /function/],
    ["IFS=/ ls", /IFS=/],
    ["PATH=./bin:$PATH; git status", /PATH=/],
    ["read PATH", /may set a variable/],
    ["export PATH=.", /declaration command/],
    ["$CMD x", /command name .* only known at run time/],
    ["/bin/r? -rf x", /command name .* only known at run time/],
    ["echo {a,b}", /brace expansion/],
    ["ls |& cat", /\|&/],
    ["cat <<< x", /here-string/],
    ["[[ -f x ]]", /bash-only/],
    ["echo x 10>f", /file descriptors above 9/],
    ["echo x > $HOME/f", /redirection target .* only known at run time/],
    ["cd $HOME && echo x > .bashrc", /only known at run time/],
    ["cd - && ls", /previous directory/],
    ["echo 'unterminated", /could not parse/],
    ["cd a || echo x > f | cat > g", /groups .* differently/],
    ["(ls)#x", /comment/],
    ["echo a\u00a0b", /unusual space/],
    ["case x in a) rm x;; esac", /case statement/],
    ["while true; do cd x; done", /inside a loop/],
  ];
  for (const [command, reason] of cases) {
    it(JSON.stringify(command), () => {
      const parsed = parseShellCommand(command);
      expect(parsed.uncertain.map((doubt) => doubt.reason).join(" | ")).toMatch(reason);
    });
  }

  it("still finds the commands inside, so deny rules see them", () => {
    expect(splitShellCommand("echo $(rm -rf /tmp/a)")).toEqual([
      ["rm", "-rf", "/tmp/a"],
      ["echo", "$(…)"],
    ]);
    expect(splitShellCommand("bash -c 'rm -rf /'")).toEqual([
      ["bash", "-c", "rm -rf /"],
      ["rm", "-rf", "/"],
    ]);
    expect(splitShellCommand("sh -lc \"bash -c 'rm -f x'\"")).toContainEqual(["rm", "-f", "x"]);
    expect(splitShellCommand("FOO=1 sh -c 'make'")).toEqual([["FOO=1", "sh", "-c", "make"], ["make"]]);
    expect(splitShellCommand("ls | xargs")).toEqual([["ls"], ["xargs"], ["echo"]]);
    expect(splitShellCommand("command exec xargs -0 -n 1 rm")).toContainEqual(["rm"]);
    expect(splitShellCommand("FOO=1 find . -exec rm {} +")).toContainEqual(["FOO=1", "rm", "{}"]);
    expect(splitShellCommand("cat <<EOF\n$(id)\nrm -rf /\nEOF\necho done")).toEqual([
      ["id"],
      ["cat"],
      ["echo", "done"],
    ]);
    expect(splitShellCommand("alias ls=rm; ls")).toEqual([["alias", "ls=rm"], ["ls"]]);
  });

  it("says the parser is not ready instead of guessing when the grammar is not loaded", async () => {
    vi.resetModules(); // a fresh copy of the module graph, with no grammar loaded
    const fresh = await import("../../src/permission/shell.js");
    const parsed = fresh.parseShellCommand("ls");
    expect(parsed.commands).toEqual([]);
    expect(parsed.uncertain).toEqual([{ reason: fresh.PARSER_NOT_READY, kind: "syntax" }]);
    expect(fresh.PARSER_NOT_READY).toContain("not ready");
  });
});

describe("parseShellCommand: writes and directories", () => {
  it("collects files written by redirections, but not fd duplications or /dev/null", () => {
    expect(parseShellCommand("npm test > out.log 2>&1").writes).toEqual(["out.log"]);
    expect(parseShellCommand("echo x >> a.txt; echo y &> b.txt; cat < in.txt; echo z 2>/dev/null").writes).toEqual([
      "a.txt",
      "b.txt",
    ]);
    expect(parseShellCommand("{ echo a; } > grouped.txt").writes).toEqual(["grouped.txt"]);
    expect(parseShellCommand("echo x >| clobber.txt").writes).toEqual(["clobber.txt"]);
  });

  it("follows a literal cd for later redirections, where the shell applies them", () => {
    // tree-sitter hangs `> build.log` on the whole `cd … && npm …` list; the shell applies it after the cd.
    expect(parseShellCommand("cd packages/cli && npm run build > build.log").writes).toEqual([
      "packages/cli/build.log",
    ]);
    // `..` stays: after a symlink it is not where lexical folding puts it (the gate resolves it).
    expect(parseShellCommand("cd a/b && cd .. && echo x > f").writes).toEqual(["a/b/../f"]);
    expect(parseShellCommand("cd /etc && echo x > profile").writes).toEqual(["/etc/profile"]);
    expect(parseShellCommand("(cd sub; make) && echo x > here.txt").writes).toEqual(["here.txt"]);
    expect(parseShellCommand("echo x > before.txt; cd sub").writes).toEqual(["before.txt"]);
    // If the cd fails, `;` runs the next command where the shell was.
    expect(parseShellCommand("cd sub; echo x > f").writes).toEqual(["sub/f", "f"]);
    expect(parseShellCommand("cd sub || echo x > f").writes).toEqual(["f"]);
    expect(parseShellCommand("cd sub & echo x > f").writes).toEqual(["f"]);
    const dynamic = parseShellCommand("cd $DIR && echo x > f");
    expect(dynamic.writes).toEqual([]);
    expect(dynamic.unknownWrites).toEqual(["f"]);
  });

  it("lists static cd destinations for the gate to check, ~ expanded", () => {
    expect(parseShellCommand("cd sub && cd ../other").directories).toEqual(["sub", "sub/../other"]);
    expect(parseShellCommand("cd /tmp").directories).toEqual(["/tmp"]);
    expect(parseShellCommand("cd ~/p").directories[0]).toMatch(/^\/.*\/p$/);
    expect(parseShellCommand("cd").directories).toHaveLength(1); // home
  });

  it("survives deep nesting and long input without throwing, as an uncertainty", () => {
    const deep = `bash -c "${"$(".repeat(300)}rm${")".repeat(300)}"`;
    expect(parseShellCommand(deep).uncertain.length).toBeGreaterThan(0);
    const nested = `${"sh -c '".repeat(1)}${"eval ".repeat(20)}ls'`;
    expect(() => parseShellCommand(nested)).not.toThrow();
    expect(parseShellCommand(`echo ${"a".repeat(70_000)}`).uncertain[0]?.reason).toContain("longer than");
  });

  it("joinShellWords round-trips through the splitter", () => {
    const argv = ["git", "commit", "-m", "it's a 'quote' && more", "", "a*b"];
    expect(splitShellCommand(joinShellWords(argv))).toEqual([argv]);
    expect(joinShellWords(["npm", "run", "test:unit"])).toBe("npm run test:unit");
    const assigned = ["GIT_PAGER=rm -rf ~", "git", "log", "--format=a b"];
    expect(joinShellWords(assigned)).toBe("GIT_PAGER='rm -rf ~' git log '--format=a b'");
    expect(splitShellCommand(joinShellWords(assigned))).toEqual([assigned]);
  });
});
