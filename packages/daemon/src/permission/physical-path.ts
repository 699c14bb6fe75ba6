import { lstatSync, readlinkSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";

/** Longer paths are not resolved at all: bounded work for every input. */
export const MAX_PATH_BYTES = 4096;
/** Paths with more components are not resolved at all. */
export const MAX_PATH_COMPONENTS = 256;
/** Symbolic links followed for one path, as the kernel's ELOOP limit. */
const MAX_LINKS = 40;
/** lstat calls for one path, links included. */
const MAX_STEPS = 1024;

/** Where a path really leads, or why the gate would not resolve it. */
export type PhysicalPath = { path: string } | { error: string };

/**
 * The path the kernel would open for `target` from the directory `base`: components walked one by
 * one from the root, symbolic links followed where they are met (so `link/..` is the parent of the
 * link's target, as for the shell, not `.`), and what does not exist yet appended as written.
 * Linear in the components, with the number of links and lstat calls bounded.
 */
export function physicalPath(base: string, target: string): PhysicalPath {
  const combined = isAbsolute(target) ? target : `${base}/${target}`;
  if (Buffer.byteLength(combined) > MAX_PATH_BYTES)
    return { error: `the path is longer than ${MAX_PATH_BYTES} bytes, more than the gate resolves` };
  if (combined.split("/").length > MAX_PATH_COMPONENTS)
    return { error: `the path has more than ${MAX_PATH_COMPONENTS} components, more than the gate resolves` };
  const budget = { links: MAX_LINKS, steps: MAX_STEPS };
  return walk("/", combined.split("/"), budget);
}

function walk(start: string, parts: readonly string[], budget: { links: number; steps: number }): PhysicalPath {
  let current = start;
  for (let index = 0; index < parts.length; index++) {
    const part = parts[index] as string;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      current = dirname(current); // `current` is already physical, so its parent is too
      continue;
    }
    if (--budget.steps < 0) return { error: "the path takes too many steps to resolve" };
    const next = join(current, part);
    // /proc/self/cwd, /proc/self/fd/3 (and /dev/fd/…, a link into it) name the process that opens
    // them: the shell's cwd and descriptors, not the gate's, so the gate's reading proves nothing.
    if (next === "/proc/self" || next === "/proc/thread-self" || /^\/proc\/\d+$/.test(next))
      return { error: "the path goes through /proc, which leads somewhere else for the shell than for the gate" };
    let link: string | undefined;
    try {
      const info = lstatSync(next);
      if (info.isSymbolicLink()) link = readlinkSync(next);
    } catch {
      // Missing from here on: the write would create it under `next` (the rest cannot hold links yet).
      return { path: join(next, ...parts.slice(index + 1).filter((rest) => rest !== "")) };
    }
    if (link === undefined) {
      current = next;
      continue;
    }
    if (--budget.links < 0) return { error: "the path goes through too many symbolic links (a loop?)" };
    if (Buffer.byteLength(link) > MAX_PATH_BYTES) return { error: "a symbolic link on the path is too long to follow" };
    const followed = walk(isAbsolute(link) ? "/" : current, link.split("/"), budget);
    if ("error" in followed) return followed;
    current = followed.path;
  }
  return { path: current };
}
