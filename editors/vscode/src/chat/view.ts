// The Meta AI chat view (side bar webview). The server's history is the source of the
// conversation: the view keeps only the open conversation's id, so a reloaded window shows
// the same conversation again.
import { randomUUID } from "node:crypto";
import * as path from "node:path";

import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  type LanguageClient,
} from "vscode-languageclient/node";

import { chatPage } from "./html";
import {
  chatArguments,
  isToHost,
  selectionLabel,
  TAGS,
  type Chip,
  type ConversationSummary,
  type ConversationView,
  type Live,
  type ToHost,
  type ToView,
} from "./protocol";

export const CHAT_VIEW = "metaai.chatView";
const OPEN_CONVERSATION = "metaai.chat.conversation";
const SELECTION_DELAY_MS = 150;
const MAX_PICKED_FILES = 5000;

interface ChatResult {
  conversation?: string;
  text?: string;
  error?: string;
  cancelled?: boolean;
}

export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private live: (Live & { stop: () => void }) | null = null;
  private lastEditor: vscode.TextEditor | undefined;
  private selectionTimer: NodeJS.Timeout | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly client: () => LanguageClient | undefined,
    private readonly output: vscode.LogOutputChannel,
  ) {
    this.lastEditor = vscode.window.activeTextEditor;
    this.subscriptions.push(
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor) this.lastEditor = editor;
        this.selectionSoon();
      }),
      vscode.window.onDidChangeTextEditorSelection(() => this.selectionSoon()),
    );
  }

  dispose(): void {
    clearTimeout(this.selectionTimer);
    for (const subscription of this.subscriptions) subscription.dispose();
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.context.extensionUri, "media");
    const dist = vscode.Uri.joinPath(this.context.extensionUri, "dist");
    view.webview.options = { enableScripts: true, localResourceRoots: [media, dist] };
    view.webview.html = chatPage({
      cspSource: view.webview.cspSource,
      script: view.webview.asWebviewUri(vscode.Uri.joinPath(dist, "webview.js")).toString(),
      style: view.webview.asWebviewUri(vscode.Uri.joinPath(media, "chat.css")).toString(),
    });
    view.webview.onDidReceiveMessage((message: unknown) => {
      if (isToHost(message)) void this.handle(message).catch((error) => this.fail(error));
    });
    view.onDidChangeVisibility(() => {
      if (view.visible) void this.warmUp();
    });
    view.onDidDispose(() => {
      if (this.view === view) this.view = undefined;
    });
  }

  /** Open (and focus) the view; `history`: its list of past conversations. */
  async reveal(history = false): Promise<void> {
    await vscode.commands.executeCommand(`${CHAT_VIEW}.focus`);
    if (history) this.post({ type: "showHistory" });
  }

  async newChat(): Promise<void> {
    await this.setConversation(null);
    this.post({ type: "restore", conversation: null, live: this.live });
  }

  private post(message: ToView): void {
    void this.view?.webview.postMessage(message);
  }

  private async handle(message: ToHost): Promise<void> {
    switch (message.type) {
      case "ready":
        return this.restore();
      case "send":
        return this.send(message.text, message.chips);
      case "stop":
        return this.live?.stop();
      case "newChat":
        return this.newChat();
      case "listConversations":
        return this.listConversations();
      case "openConversation":
        return this.open(message.id);
      case "forgetConversation":
        return this.forget(message.id);
      case "pickReference":
        return this.pickReference();
      case "copy":
        await vscode.env.clipboard.writeText(message.text);
        return this.post({ type: "notice", text: "Copied." });
      case "applyCode":
        return this.applyCode(message.text, message.where);
    }
  }

  private conversationId(): string | null {
    return this.context.workspaceState.get<string>(OPEN_CONVERSATION) ?? null;
  }

  private async setConversation(id: string | null): Promise<void> {
    await this.context.workspaceState.update(OPEN_CONVERSATION, id ?? undefined);
  }

  private async command<T>(command: string, argument?: unknown): Promise<T> {
    const client = this.client();
    if (!client?.isRunning()) {
      throw new Error("the Meta AI server is not running (Meta AI: Show log tells why; Meta AI: Restart the language server)");
    }
    const arguments_ = argument === undefined ? [] : [argument];
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: arguments_ })) as T;
  }

  private async restore(): Promise<void> {
    const id = this.conversationId();
    let conversation: ConversationView | null = null;
    let notice: string | undefined;
    if (id) {
      try {
        conversation = await this.command<ConversationView>("metaai.conversation", { id });
      } catch (error) {
        await this.setConversation(null);
        notice = `The last conversation could not be reopened (${messageOf(error)}); this is a new chat.`;
      }
    }
    this.post({ type: "restore", conversation, live: this.live, notice });
    this.postSelection();
    void this.warmUp();
  }

  private async open(id: string): Promise<void> {
    const conversation = await this.command<ConversationView>("metaai.conversation", { id });
    await this.setConversation(conversation.id);
    this.post({ type: "restore", conversation, live: null });
  }

  private async listConversations(): Promise<void> {
    const items = await this.command<ConversationSummary[]>("metaai.conversations");
    this.post({ type: "conversations", items: Array.isArray(items) ? items : [] });
  }

  private async forget(id: string): Promise<void> {
    await this.command("metaai.forget", { id });
    if (this.conversationId() === id) await this.setConversation(null);
    await this.listConversations();
  }

  /** One message, streamed into the view from the progress reports on our own token. */
  private async send(text: string, chips: Chip[]): Promise<void> {
    const client = this.client();
    if (this.live) return;
    if (!client?.isRunning()) return this.fail(new Error("the Meta AI server is not running"));
    const activeUri = (vscode.window.activeTextEditor ?? this.lastEditor)?.document.uri.toString();
    const argument = chatArguments(text, chips, this.conversationId(), activeUri);
    const token = `metaai-chat-${randomUUID()}`;
    const cancellation = new vscode.CancellationTokenSource();
    const labels = chips.map((chip) => chip.label);
    const live = {
      message: text,
      chips: labels,
      text: "",
      stop: () => {
        void client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
        cancellation.cancel();
      },
    };
    this.live = live;
    this.post({ type: "started", message: text, chips: labels });
    const listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind !== "report" || !value.message) return;
      live.text += value.message;
      this.post({ type: "delta", text: value.message });
    });
    let result: ChatResult;
    try {
      result = (await client.sendRequest(
        ExecuteCommandRequest.type,
        { command: "metaai.chat", arguments: [argument], workDoneToken: token },
        cancellation.token,
      )) as ChatResult;
    } catch (error) {
      result = cancellation.token.isCancellationRequested ? { cancelled: true } : { error: messageOf(error) };
    } finally {
      listener.dispose();
      cancellation.dispose();
      this.live = null;
    }
    if (result.conversation) await this.setConversation(result.conversation);
    this.post({
      type: "finished",
      text: result.text ?? live.text,
      error: result.error,
      cancelled: result.cancelled,
      conversation: result.conversation ?? null,
    });
  }

  /** `#` in the input: the server's tags, then the workspace's files. */
  private async pickReference(): Promise<void> {
    type Item = vscode.QuickPickItem & { tag?: string; uri?: vscode.Uri };
    const tags: Item[] = TAGS.map(({ tag, detail }) => ({ label: tag, description: detail, tag }));
    const files = await vscode.workspace.findFiles("**/*", undefined, MAX_PICKED_FILES);
    const fileItems: Item[] = files
      .map((uri) => ({ label: vscode.workspace.asRelativePath(uri), description: "", uri }))
      .sort((a, b) => a.label.localeCompare(b.label));
    const picked = await vscode.window.showQuickPick<Item>(
      [...tags, { label: "files", kind: vscode.QuickPickItemKind.Separator }, ...fileItems],
      { title: "Add to the message", placeHolder: "a workspace file, or #selection, #buffer, #diagnostics, #diff", matchOnDescription: true },
    );
    if (picked?.uri) {
      const chip: Chip = { kind: "file", uri: picked.uri.toString(), label: picked.label };
      this.post({ type: "reference", chip });
    } else {
      this.post({ type: "reference", chip: null, tag: picked?.tag });
    }
    await this.reveal();
  }

  /** Insert at the cursor / Replace the selection: the server's versioned edit (one undo). */
  private async applyCode(text: string, where: "cursor" | "selection"): Promise<void> {
    const editor = vscode.window.activeTextEditor ?? this.visibleLastEditor();
    const client = this.client();
    if (!editor || !client) {
      return this.post({ type: "notice", text: "Open the file the code should go into, then try again.", error: true });
    }
    const selection = where === "cursor" ? new vscode.Selection(editor.selection.active, editor.selection.active) : editor.selection;
    const range = client.code2ProtocolConverter.asRange(selection);
    const uri = editor.document.uri.toString();
    const result = await this.command<{ applied?: boolean; error?: string }>("metaai.applyCode", { uri, range, text });
    if (!result?.applied) {
      this.post({ type: "notice", text: `The code was not applied: ${result?.error ?? "the editor refused the edit"}.`, error: true });
    }
  }

  private visibleLastEditor(): vscode.TextEditor | undefined {
    const last = this.lastEditor;
    return last && vscode.window.visibleTextEditors.includes(last) ? last : undefined;
  }

  private selectionSoon(): void {
    clearTimeout(this.selectionTimer);
    this.selectionTimer = setTimeout(() => this.postSelection(), SELECTION_DELAY_MS);
  }

  private postSelection(): void {
    if (!this.view) return;
    const editor = vscode.window.activeTextEditor;
    const client = this.client();
    if (!editor || editor.selection.isEmpty || !client || !["file", "untitled"].includes(editor.document.uri.scheme)) {
      return this.post({ type: "selection", chip: null });
    }
    const { start, end } = editor.selection;
    const label = selectionLabel(path.basename(editor.document.fileName), start.line, end.line, end.character);
    const range = client.code2ProtocolConverter.asRange(editor.selection);
    this.post({ type: "selection", chip: { kind: "selection", uri: editor.document.uri.toString(), range, label } });
  }

  /** Opening the view warms the door up (a fresh token, the socket the next message uses). */
  private async warmUp(): Promise<void> {
    const client = this.client();
    const commands = client?.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    if (!client?.isRunning() || !commands.includes("metaai.warmup")) return;
    const conversation = this.conversationId();
    try {
      await this.command("metaai.warmup", conversation ? { conversation } : {});
    } catch (error) {
      this.output.debug(`metaai.warmup: ${messageOf(error)}`);
    }
  }

  private fail(error: unknown): void {
    this.output.error(`Chat: ${messageOf(error)}`);
    this.post({ type: "notice", text: `Meta AI: ${messageOf(error)}`, error: true });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
