// The chat view's page script. Model text only ever reaches the page as Markdown rendered
// by markdown-it (raw HTML off) and then sanitized by DOMPurify into a DOM fragment; the
// user's own text goes in as text nodes.
import DOMPurify from "dompurify";
import MarkdownIt from "markdown-it";

import {
  describeConversation,
  startsReference,
  type Chip,
  type ConversationSummary,
  type ConversationView,
  type Live,
  type ToHost,
  type ToView,
  type Turn,
} from "../src/chat/protocol";

interface VsCodeApi {
  postMessage(message: ToHost): void;
  getState(): SavedState | undefined;
  setState(state: SavedState): void;
}
interface SavedState {
  draft: string;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const chat = element("chat");
const historyList = element("history");
const input = element("input") as HTMLTextAreaElement;
const chipsBox = element("chips");
const sendButton = element("send") as HTMLButtonElement;
const stopButton = element("stop") as HTMLButtonElement;
const status = element("status");

// A streamed answer is rendered at most this often (the first text at once).
const RENDER_INTERVAL_MS = 33;

const markdown = new MarkdownIt({ html: false, linkify: true, breaks: false });
// No remote content: an image in an answer becomes a link to it.
markdown.renderer.rules.image = (tokens, index) => {
  const token = tokens[index];
  const source = markdown.utils.escapeHtml(token.attrGet("src") ?? "");
  const alt = markdown.utils.escapeHtml(token.content || "image");
  return `<a href="${source}">🖼 ${alt}</a>`;
};

const SANITIZE = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ["style", "img", "form", "input", "button", "textarea", "select", "iframe", "object", "embed", "svg", "math"],
  FORBID_ATTR: ["style", "class", "id"],
  ALLOW_DATA_ATTR: false,
} as const;

let selectionChip: Chip | null = null;
let selectionRemoved = "";
let fileChips: Chip[] = [];
let busy = false;
let streaming: Streaming | null = null;

class Streaming {
  text = "";
  private lastRender = 0;
  private timer: number | undefined;
  private firstTextAt = 0;

  constructor(readonly body: HTMLElement) {}

  add(delta: string): void {
    this.text += delta;
    const wait = this.lastRender + RENDER_INTERVAL_MS - performance.now();
    if (wait <= 0) this.render();
    else if (this.timer === undefined) this.timer = window.setTimeout(() => this.render(), wait);
  }

  render(): void {
    window.clearTimeout(this.timer);
    this.timer = undefined;
    this.lastRender = performance.now();
    renderMarkdown(this.body, this.text, true);
    if (!this.firstTextAt && this.text) {
      this.firstTextAt = Date.now();
      this.body.dataset.firstTextAt = String(this.firstTextAt); // read by bench/vscode_chat_bench.py
    }
    scrollToEnd();
  }
}

function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the chat page has no #${id}`);
  return found;
}

function post(message: ToHost): void {
  vscode.postMessage(message);
}

function renderMarkdown(target: HTMLElement, text: string, streamingNow = false): void {
  const fragment = DOMPurify.sanitize(markdown.render(text), SANITIZE) as unknown as DocumentFragment;
  for (const block of Array.from(fragment.querySelectorAll("pre"))) decorateCodeBlock(block, streamingNow);
  target.replaceChildren(fragment);
}

/** Copy · Insert at cursor · Replace selection under each code block. */
function decorateCodeBlock(block: HTMLElement, streamingNow: boolean): void {
  const code = block.querySelector("code");
  const text = code?.textContent ?? block.textContent ?? "";
  const bar = document.createElement("div");
  bar.className = "code-actions";
  const actions: [string, string, () => void][] = [
    ["Copy", "Copy the code", () => post({ type: "copy", text })],
    ["Insert", "Insert at the cursor in the editor", () => post({ type: "applyCode", text, where: "cursor" })],
    ["Replace", "Replace the editor's selection", () => post({ type: "applyCode", text, where: "selection" })],
  ];
  for (const [label, title, run] of actions) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.title = title;
    button.disabled = streamingNow; // the block may still grow
    button.addEventListener("click", run);
    bar.append(button);
  }
  block.after(bar);
}

function scrollToEnd(): void {
  const nearEnd = document.scrollingElement
    ? document.scrollingElement.scrollHeight - document.scrollingElement.scrollTop - window.innerHeight < 120
    : true;
  if (nearEnd) window.scrollTo(0, document.body.scrollHeight);
}

function addTurn(turn: Turn): HTMLElement {
  const article = document.createElement("article");
  article.className = `turn ${turn.role}`;
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = turn.role === "user" ? "You" : "Meta AI";
  const body = document.createElement("div");
  body.className = "body";
  article.append(who, body);
  if (turn.role === "user") {
    body.textContent = turn.text;
    if (turn.references?.length) article.append(referenceList(turn.references));
  } else {
    renderMarkdown(body, turn.text);
    markOutcome(article, turn.error, turn.cancelled);
  }
  chat.append(article);
  return body;
}

function referenceList(names: string[]): HTMLElement {
  const list = document.createElement("div");
  list.className = "used";
  for (const name of names) {
    const item = document.createElement("span");
    item.className = "chip used-chip";
    item.textContent = name;
    list.append(item);
  }
  return list;
}

function markOutcome(article: HTMLElement, error?: string, cancelled?: boolean): void {
  if (!error && !cancelled) return;
  const note = document.createElement("div");
  note.className = error ? "outcome error" : "outcome";
  note.textContent = error ? error : "Stopped.";
  article.append(note);
}

function showConversation(conversation: ConversationView | null, live: Live | null): void {
  chat.replaceChildren();
  streaming = null;
  if (conversation) for (const turn of conversation.turns) addTurn(turn);
  if (!conversation?.turns.length && !live) chat.append(emptyNote());
  if (live) {
    addTurn({ role: "user", text: live.message, references: live.chips });
    startAnswer().add(live.text);
  }
  setBusy(live !== null);
  window.scrollTo(0, document.body.scrollHeight);
}

function emptyNote(): HTMLElement {
  const note = document.createElement("p");
  note.className = "empty";
  note.textContent =
    "Ask Meta AI about your code. The selection in the editor comes along (remove its chip to leave it out); type # to add a file.";
  return note;
}

function startAnswer(): Streaming {
  chat.querySelector(".empty")?.remove();
  const body = addTurn({ role: "assistant", text: "" });
  body.closest("article")?.classList.add("streaming");
  streaming = new Streaming(body);
  return streaming;
}

function finishAnswer(text: string, error?: string, cancelled?: boolean): void {
  const current = streaming ?? startAnswer();
  current.text = text;
  renderMarkdown(current.body, text);
  const article = current.body.closest("article");
  if (article) {
    article.classList.remove("streaming");
    markOutcome(article, error, cancelled);
  }
  streaming = null;
  setBusy(false);
  scrollToEnd();
}

function setBusy(value: boolean): void {
  busy = value;
  sendButton.hidden = value;
  stopButton.hidden = !value;
  status.textContent = value ? "Meta AI is answering…" : "";
}

function renderChips(): void {
  const chips = [...(selectionChip ? [selectionChip] : []), ...fileChips];
  chipsBox.replaceChildren(
    ...chips.map((chip) => {
      const item = document.createElement("span");
      item.className = `chip ${chip.kind}`;
      item.title = chip.kind === "selection" ? "The selection is sent with the message" : chip.uri;
      const label = document.createElement("span");
      label.textContent = chip.label;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.title = `Leave ${chip.label} out`;
      remove.setAttribute("aria-label", `Remove ${chip.label}`);
      remove.textContent = "×";
      remove.addEventListener("click", () => removeChip(chip));
      item.append(label, remove);
      return item;
    }),
  );
}

function removeChip(chip: Chip): void {
  if (chip.kind === "selection") {
    selectionRemoved = chip.label;
    selectionChip = null;
  } else {
    fileChips = fileChips.filter((c) => c !== chip);
  }
  renderChips();
  input.focus();
}

function send(): void {
  const text = input.value.trim();
  if (!text || busy) return;
  const chips = [...(selectionChip ? [selectionChip] : []), ...fileChips];
  post({ type: "send", text, chips });
  input.value = "";
  fileChips = [];
  saveDraft();
  renderChips();
}

function saveDraft(): void {
  vscode.setState({ draft: input.value });
}

function showHistory(items: ConversationSummary[]): void {
  historyList.replaceChildren();
  const header = document.createElement("div");
  header.className = "history-header";
  const title = document.createElement("h2");
  title.textContent = "Past conversations";
  const back = document.createElement("button");
  back.type = "button";
  back.textContent = "Back to the chat";
  back.addEventListener("click", hideHistory);
  header.append(title, back);
  historyList.append(header);
  if (items.length === 0) {
    const none = document.createElement("p");
    none.className = "empty";
    none.textContent = "No conversations yet.";
    historyList.append(none);
  }
  for (const item of items) historyList.append(historyItem(item));
  historyList.hidden = false;
  chat.hidden = true;
}

function historyItem(item: ConversationSummary): HTMLElement {
  const row = document.createElement("div");
  row.className = "conversation";
  row.dataset.id = item.id;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "open";
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = item.title || "(untitled)";
  const detail = document.createElement("span");
  detail.className = "detail";
  detail.textContent = describeConversation(item);
  open.append(title, detail);
  open.addEventListener("click", () => {
    post({ type: "openConversation", id: item.id });
    hideHistory();
  });
  const forget = document.createElement("button");
  forget.type = "button";
  forget.className = "forget";
  forget.textContent = "Delete";
  forget.title = `Delete “${item.title}”`;
  forget.addEventListener("click", () => post({ type: "forgetConversation", id: item.id }));
  row.append(open, forget);
  return row;
}

function hideHistory(): void {
  historyList.hidden = true;
  chat.hidden = false;
  input.focus();
}

function showNotice(text: string, error = false): void {
  const note = document.createElement("div");
  note.className = error ? "notice error" : "notice";
  note.textContent = text;
  chat.append(note);
  scrollToEnd();
}

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
input.addEventListener("input", (event) => {
  saveDraft();
  const typed = (event as InputEvent).data;
  if (typed === "#" && startsReference(input.value, input.selectionStart)) post({ type: "pickReference" });
});
sendButton.addEventListener("click", send);
stopButton.addEventListener("click", () => post({ type: "stop" }));

window.addEventListener("message", (event: MessageEvent<ToView>) => {
  const message = event.data;
  switch (message.type) {
    case "restore":
      hideHistory();
      showConversation(message.conversation, message.live);
      if (message.notice) showNotice(message.notice);
      break;
    case "started":
      chat.querySelector(".empty")?.remove();
      addTurn({ role: "user", text: message.message, references: message.chips });
      startAnswer();
      setBusy(true);
      break;
    case "delta":
      (streaming ?? startAnswer()).add(message.text);
      break;
    case "finished":
      finishAnswer(message.text, message.error, message.cancelled);
      break;
    case "conversations":
      showHistory(message.items);
      break;
    case "showHistory":
      post({ type: "listConversations" });
      break;
    case "selection":
      // A selection the user removed stays out until it changes.
      selectionChip = message.chip && message.chip.label !== selectionRemoved ? message.chip : null;
      if (!message.chip) selectionRemoved = "";
      renderChips();
      break;
    case "reference":
      acceptReference(message.chip, message.tag);
      break;
    case "notice":
      showNotice(message.text, message.error);
      break;
  }
});

/** The picker's choice replaces the `#` just typed: a file becomes a chip, a tag stays text. */
function acceptReference(chip: Chip | null, tag?: string): void {
  const caret = input.selectionStart;
  const hash = input.value.lastIndexOf("#", caret - 1);
  if ((chip || tag) && hash >= 0) {
    const replacement = tag ? `${tag} ` : "";
    input.value = input.value.slice(0, hash) + replacement + input.value.slice(hash + 1);
    input.selectionStart = input.selectionEnd = hash + replacement.length;
  }
  if (chip && !fileChips.some((c) => c.uri === chip.uri)) fileChips.push(chip);
  renderChips();
  saveDraft();
  input.focus();
}

input.value = vscode.getState()?.draft ?? "";
renderChips();
post({ type: "ready" });
