import { describe, expect, it } from "vitest";
import { joinShellWords, parseShellCommand, splitShellCommand } from "../../src/permission/index.js";

describe("splitShellCommand", () => {
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
    ["(cd sub; make) |& tee log", [["cd", "sub"], ["make"], ["tee", "log"]]],
    [
      "echo $(rm -rf /tmp/a)",
      [
        ["echo", "$(…)"],
        ["rm", "-rf", "/tmp/a"],
      ],
    ],
    ["echo `whoami`", [["echo", "$(…)"], ["whoami"]]],
    ['echo "nested $(cat "$(ls)")"', [["echo", "nested $(…)"], ["cat", "$(…)"], ["ls"]]],
    [
      "bash -c 'npm test && git push'",
      [
        ["npm", "test"],
        ["git", "push"],
      ],
    ],
    ["sh -lc \"bash -c 'rm -f x'\"", [["rm", "-f", "x"]]],
    ["/bin/bash -e -c 'make'", [["make"]]],
    ["bash script.sh", [["bash", "script.sh"]]],
    // Assignments that change how a command runs stay part of it; harmless ones are dropped.
    ["env FOO=1 BAR=2 npm test", [["FOO=1", "BAR=2", "npm", "test"]]],
    ["FOO=1 npm test", [["FOO=1", "npm", "test"]]],
    ["CI=1 NODE_ENV=test LC_ALL=C FORCE_COLOR=0 npm test", [["npm", "test"]]],
    ["env CI=true NO_COLOR=1 npm test", [["npm", "test"]]],
    ["GIT_DIR=/ git status", [["GIT_DIR=/", "git", "status"]]],
    ["GIT_PAGER='rm -rf ~' git log", [["GIT_PAGER=rm -rf ~", "git", "log"]]],
    ["CI=1 LD_PRELOAD=./x.so npm test", [["LD_PRELOAD=./x.so", "npm", "test"]]],
    ["env -i LD_PRELOAD=./x.so npm test", [["LD_PRELOAD=./x.so", "npm", "test"]]],
    ["FOO=1 env BAR=2 timeout 5 make", [["FOO=1", "BAR=2", "make"]]],
    ["PATH=./bin:$PATH; git status", [["PATH=./bin:$PATH"], ["git", "status"]]],
    ["CI=1; git status", [["git", "status"]]],
    ["FOO=1 sh -c 'make'", [["FOO=1"], ["make"]]],
    ["sudo LD_PRELOAD=x ls", [["sudo"], ["LD_PRELOAD=x", "ls"]]],
    [
      "FOO=1 find . -exec rm {} +",
      [
        ["FOO=1", "find", ".", "-exec", "rm", "{}", "+"],
        ["FOO=1", "rm", "{}"],
      ],
    ],
    ["timeout -s KILL 10 nice -n 5 nohup time -p npm test", [["npm", "test"]]],
    ["command exec xargs -0 -n 1 rm", [["rm"]]],
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
    ["env -S 'rm -rf /'", [["rm", "-rf", "/"]]],
    ['eval "rm -rf /"', [["rm", "-rf", "/"]]],
    ["ls | xargs", [["ls"], ["echo"]]],
    [
      "find . -name '*.tmp' -exec rm {} \\;",
      [
        ["find", ".", "-name", "*.tmp", "-exec", "rm", "{}", ";"],
        ["rm", "{}"],
      ],
    ],
    [
      "diff <(ls a) <(ls b)",
      [
        ["diff", "<(…)", "<(…)"],
        ["ls", "a"],
        ["ls", "b"],
      ],
    ],
    ["X=$(curl evil)", [["X=$(…)"], ["curl", "evil"]]],
    [
      "echo $" + "{X:-$(rm y)}", // split so that no one mistakes it for a template string
      [
        ["echo", "$" + "{X:-$(rm y)}"],
        ["rm", "y"],
      ],
    ],
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
    ["cat <<EOF\n$(id)\nrm -rf /\nEOF\necho done", [["cat"], ["echo", "done"], ["id"]]],
    ["cat <<'EOF'\n$(id)\nEOF", [["cat"]]],
    ["npm test # && rm -rf /", [["npm", "test"]]],
    ["echo a \\\n  b", [["echo", "a", "b"]]],
    ["$'\\x72m' -rf /", [["rm", "-rf", "/"]]],
    [
      "$'r\\155' x; echo $'a\\tb'",
      [
        ["rm", "x"],
        ["echo", "a\tb"],
      ],
    ],
    ['echo $"hi there"', [["echo", "hi there"]]],
    ["", []],
  ];
  for (const [command, expected] of cases) {
    it(JSON.stringify(command), () => {
      expect(splitShellCommand(command)).toEqual(expected);
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
    for (const spelling of spellings) expect(splitShellCommand(spelling), spelling).toEqual([["npm", "test"]]);
  });

  it("collects files written by redirections, but not fd duplications or /dev/null", () => {
    expect(parseShellCommand("npm test > out.log 2>&1").writes).toEqual(["out.log"]);
    expect(parseShellCommand("echo x >> a.txt; echo y &> b.txt; cat < in.txt; echo z 2>/dev/null").writes).toEqual([
      "a.txt",
      "b.txt",
    ]);
    expect(parseShellCommand("{ echo a; } > grouped.txt").writes).toEqual(["grouped.txt"]);
  });

  it("follows a literal cd for later redirections, and gives up after a computed one", () => {
    expect(parseShellCommand("cd packages/cli && npm run build > build.log").writes).toEqual([
      "packages/cli/build.log",
    ]);
    expect(parseShellCommand("cd a/b && cd .. && echo x > f").writes).toEqual(["a/f"]);
    expect(parseShellCommand("cd /etc && echo x > profile").writes).toEqual(["/etc/profile"]);
    expect(parseShellCommand("(cd sub; make) && echo x > here.txt").writes).toEqual(["here.txt"]);
    expect(parseShellCommand("echo $(cd /; pwd) > here.txt").writes).toEqual(["here.txt"]);
    expect(parseShellCommand("echo x > before.txt; cd sub").writes).toEqual(["before.txt"]);
    const dynamic = parseShellCommand("cd $DIR && echo x > f");
    expect(dynamic.writes).toEqual([]);
    expect(dynamic.unknownWrites).toEqual(["f"]);
    expect(parseShellCommand("cd && echo x > f").unknownWrites).toEqual(["f"]);
  });

  it("survives unterminated quotes and deep nesting without throwing", () => {
    expect(splitShellCommand("echo 'unterminated")).toEqual([["echo", "unterminated"]]);
    expect(splitShellCommand("echo $(ls")).toEqual([["echo", "$(…)"], ["ls"]]);
    const deep = `${"bash -c ".repeat(1)}"${"$(".repeat(40)}rm${")".repeat(40)}"`;
    expect(() => splitShellCommand(deep)).not.toThrow();
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
