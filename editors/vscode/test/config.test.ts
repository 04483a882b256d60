import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

import {
  expandHome,
  findOnPath,
  initializationOptions,
  isAskResult,
  serverCommand,
  serverEnvironment,
  showsAnswer,
  tail,
  answerEditOf,
  appendTail,
  cleanSection,
  hasAnswerLens,
  missingServer,
  userInstalled,
} from "../src/config";

test("settings become the metaai section, leaving unset values to the server", () => {
  const settings: Record<string, unknown> = {
    cookiesFile: "~/meta.json",
    proxy: "",
    model: "default",
    contextLines: 0,
    actions: [],
    url: undefined,
    serverPath: "/not/a/server/setting",
  };
  assert.deepEqual(initializationOptions((key) => settings[key]), {
    metaai: { progressDeltas: true, cookiesFile: "~/meta.json", model: "default", contextLines: 0 },
  });
});

test("user actions are passed through whole", () => {
  const actions = [{ id: "x", title: "X", prompt: "Do {selection}", mode: "replace" }];
  assert.deepEqual(initializationOptions((key) => (key === "actions" ? actions : undefined)).metaai, {
    progressDeltas: true,
    actions,
  });
});

test("an explicit server path wins", () => {
  assert.deepEqual(serverCommand("~/bin/metaai-ls", "", () => "/usr/bin/metaai-ls"), {
    command: expandHome("~/bin/metaai-ls"),
    args: ["--stdio"],
  });
});

test("metaai-ls on PATH comes next, then install.sh's ~/.local/bin, then python -m metaai_ls", () => {
  const none = () => undefined;
  assert.deepEqual(serverCommand("", "", () => "/usr/local/bin/metaai-ls", none), {
    command: "/usr/local/bin/metaai-ls",
    args: ["--stdio"],
  });
  assert.deepEqual(serverCommand("", "", none, () => "/home/u/.local/bin/metaai-ls"), {
    command: "/home/u/.local/bin/metaai-ls",
    args: ["--stdio"],
  });
  assert.deepEqual(serverCommand("", "/venv/bin/python", none, none), {
    command: "/venv/bin/python",
    args: ["-m", "metaai_ls", "--stdio"],
  });
  assert.deepEqual(serverCommand(" ", "", none, none).command, "python3");
});

test("the user install is found in ~/.local/bin only when it is there", () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "metaai-home-"));
  assert.equal(userInstalled(home), undefined);
  fs.mkdirSync(path.join(home, ".local", "bin"), { recursive: true });
  fs.writeFileSync(path.join(home, ".local", "bin", "metaai-ls"), "#!/bin/sh\n", { mode: 0o755 });
  assert.equal(userInstalled(home), path.join(home, ".local", "bin", "metaai-ls"));
});

test("a server command that cannot start says why, naming it", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "metaai-"));
  const program = path.join(dir, "metaai-ls");
  assert.equal(missingServer({ command: program, args: ["--stdio"] }), `${program} is not an executable file`);
  fs.writeFileSync(program, "#!/bin/sh\n", { mode: 0o755 });
  assert.equal(missingServer({ command: program, args: ["--stdio"] }), undefined);
  assert.equal(
    missingServer({ command: "python3", args: ["-m", "metaai_ls", "--stdio"] }, () => undefined),
    "python3 (with the metaai_ls module) is not on PATH",
  );
  assert.equal(missingServer({ command: "python3", args: ["-m", "metaai_ls"] }, () => "/usr/bin/python3"), undefined);
});

test("a document waits for Keep or Discard while the server gives it a Keep lens", () => {
  assert.ok(hasAnswerLens([{ command: { command: "metaai.discard" } }, { command: { command: "metaai.keep" } }]));
  assert.ok(!hasAnswerLens([{ command: { command: "other" } }, {}]));
  assert.ok(!hasAnswerLens(null));
});

test("findOnPath finds executables only", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "metaai-"));
  fs.writeFileSync(path.join(dir, "metaai-ls"), "#!/bin/sh\n", { mode: 0o755 });
  fs.writeFileSync(path.join(dir, "plain"), "", { mode: 0o644 });
  assert.equal(findOnPath("metaai-ls", `/nonexistent${path.delimiter}${dir}`), path.join(dir, "metaai-ls"));
  assert.equal(findOnPath("missing", dir), undefined);
  if (process.getuid?.() !== 0) assert.equal(findOnPath("plain", dir), undefined);
});

test("expandHome only expands a leading ~", () => {
  assert.equal(expandHome("~/x", "/home/u"), "/home/u/x");
  assert.equal(expandHome("a/~/x", "/home/u"), "a/~/x");
});

test("tail keeps the end of the answer on one line", () => {
  assert.equal(tail("short\ntext"), "short text");
  assert.equal(tail("a".repeat(100) + "END", 10), "…aaaaaaEND");
});

test("chat answers are shown, others are not", () => {
  assert.ok(showsAnswer({ mode: "chat" }));
  assert.ok(!showsAnswer({ mode: "replace" }));
  assert.ok(!showsAnswer(undefined));
  assert.ok(isAskResult({ text: "" }) && !isAskResult({ error: "x" }));
});

test("the API key reaches the server's environment only when one is stored", () => {
  assert.deepEqual(serverEnvironment({ PATH: "/bin", UNSET: undefined }, undefined), { PATH: "/bin" });
  assert.deepEqual(serverEnvironment({ PATH: "/bin" }, "sk-1"), { PATH: "/bin", MODEL_API_KEY: "sk-1" });
});

test("the backend and the API settings are server settings; the key is not", () => {
  const settings: Record<string, unknown> = { backend: "api", apiKeyFile: "~/k", apiKey: "sk-no" };
  assert.deepEqual(initializationOptions((key) => settings[key]).metaai, {
    progressDeltas: true,
    backend: "api",
    apiKeyFile: "~/k",
  });
});

test("the streamed tail stays bounded however many reports come", () => {
  let kept = "";
  for (let i = 0; i < 10000; i++) kept = appendTail(kept, `chunk ${i} `, 50);
  assert.equal(kept.length, 50);
  assert.ok(kept.endsWith("chunk 9999 "));
});

test("a pulled section is cleaned: empty strings and empty lists are unset", () => {
  assert.deepEqual(cleanSection({ proxy: "", model: "fast", actions: [], serverPath: "x" }), {
    progressDeltas: true,
    model: "fast",
  });
  assert.equal(cleanSection(null), null);
});

test("only Meta AI's versioned answer edits are applied by the extension", () => {
  const edit = {
    label: "Meta AI #3",
    edit: {
      documentChanges: [
        { textDocument: { uri: "file:///a.py", version: 7 }, edits: [{ range: {}, newText: "x" }] },
      ],
    },
  };
  assert.deepEqual(answerEditOf(edit), {
    uri: "file:///a.py",
    version: 7,
    label: "Meta AI #3",
    edits: [{ range: {}, newText: "x" }],
  });
  assert.equal(answerEditOf({ ...edit, label: "Rename" }), undefined);
  assert.equal(answerEditOf({ label: "Meta AI #3", edit: { changes: {} } }), undefined);
});
