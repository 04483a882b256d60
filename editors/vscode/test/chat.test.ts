import { strict as assert } from "node:assert";
import { test } from "node:test";

import { chatPage, contentSecurityPolicy } from "../src/chat/html";
import { chatArguments, describeConversation, selectionLabel, startsReference, type Chip } from "../src/chat/protocol";

const range = { start: { line: 2, character: 0 }, end: { line: 5, character: 0 } };
const selection: Chip = { kind: "selection", uri: "file:///w/a.py", range, label: "a.py:3-5" };
const file: Chip = { kind: "file", uri: "file:///w/b.py", label: "b.py" };

test("the page allows scripts only with its nonce and loads nothing remote", () => {
  const csp = contentSecurityPolicy("https://ext.example", "N0nce");
  assert.match(csp, /^default-src 'none'/);
  assert.match(csp, /script-src 'nonce-N0nce'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:\/\/\*|\* /);
  const page = chatPage({ cspSource: "https://ext.example", script: "https://ext.example/w.js", style: "https://ext.example/c.css", nonce: "N0nce" });
  assert.equal((page.match(/<script /g) ?? []).length, 1);
  assert.match(page, /<script nonce="N0nce" src="https:\/\/ext.example\/w.js"><\/script>/);
  assert.doesNotMatch(page, /style="/);
});

test("each page gets a new nonce", () => {
  const sources = { cspSource: "x", script: "s", style: "c" };
  const nonce = (page: string) => /nonce="([^"]+)"/.exec(page)?.[1];
  assert.notEqual(nonce(chatPage(sources)), nonce(chatPage(sources)));
});

test("a message's chips become metaai.chat's uri, range and references", () => {
  assert.deepEqual(chatArguments("why?", [selection, file], "c1", "file:///w/other.py"), {
    message: "why?",
    conversation: "c1",
    uri: "file:///w/a.py",
    range,
    references: [{ uri: "file:///w/b.py" }],
  });
  // No selection chip (removed): the active document is only where the user is.
  assert.deepEqual(chatArguments("hi", [], null, "file:///w/other.py"), { message: "hi", uri: "file:///w/other.py" });
  assert.deepEqual(chatArguments("hi", [], null, undefined), { message: "hi" });
});

test("selection labels count lines as editors show them", () => {
  assert.equal(selectionLabel("a.py", 2, 5, 0), "a.py:3-5");
  assert.equal(selectionLabel("a.py", 2, 5, 3), "a.py:3-6");
  assert.equal(selectionLabel("a.py", 4, 4, 9), "a.py:5");
});

test("# opens the picker at the start or after a space, not inside a word", () => {
  assert.ok(startsReference("#", 1));
  assert.ok(startsReference("look at #", 9));
  assert.ok(!startsReference("issue#", 6));
  assert.ok(!startsReference("abc", 2));
});

test("past conversations say when and how long", () => {
  const now = new Date("2026-12-01T12:00:00Z");
  const item = (updated: string, turns: number) => ({ id: "x", title: "t", updated, turns });
  assert.equal(describeConversation(item("2026-12-01T11:59:50Z", 1), now), "just now · 1 message");
  assert.equal(describeConversation(item("2026-12-01T11:30:00Z", 4), now), "30 min ago · 4 messages");
  assert.equal(describeConversation(item("2026-11-20T11:30:00Z", 2), now), "2026-11-20 · 2 messages");
});
