"""A real VS Code for tests and benches: code-server with the built .vsix, driven from
headless Chromium through Playwright as a user would, against the fake Meta AI run as its
own process. `scripts/vscode-e2e-install.sh` installs code-server and Chromium (cached)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
VSIX = ROOT / "editors/vscode/metaai-ls.vsix"
CACHE = Path(os.environ.get("VSCODE_E2E_CACHE", Path.home() / ".cache/metaai-ls/vscode-e2e"))
CODE_SERVER = CACHE / "code-server/node_modules/.bin/code-server"
CHROMIUM = Path("/usr/lib/chromium/chromium")
# The chat view's page: the inner frame of the extension's webview.
CHAT_FRAME = "iframe.webview.ready[src*='extensionId=metaai-ls.metaai-ls']"


def missing() -> str | None:
    """Why the real VS Code cannot run here, or None."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    for path in (CODE_SERVER, CHROMIUM, VSIX):
        if not path.exists():
            return f"{path} is missing (scripts/vscode-e2e-install.sh, npm run package)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class VSCode:
    """One code-server with the extension, one browser page, one fake Meta AI."""

    def __init__(self, page, folder: Path, fake_url: str, shots: Path, work: Path) -> None:
        self.page = page
        self.folder = folder
        self.fake_url = fake_url
        self.shots = shots
        self.work = work

    # -- the fake

    def fake(self, **config) -> None:
        request = urllib.request.Request(
            self.fake_url + "/__fake__/config",
            json.dumps(config).encode(),
            {"content-type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5)

    def fake_list(self, what: str) -> list[dict[str, Any]]:
        """`requests`, `streams` or `messages` (the prompts) the fake received."""
        with urllib.request.urlopen(f"{self.fake_url}/__fake__/{what}", timeout=5) as answer:
            return json.loads(answer.read())

    # -- the workbench

    def open(self, name: str) -> None:
        page = self.page
        page.keyboard.press("Control+P")
        page.wait_for_selector(".quick-input-widget:visible")
        page.keyboard.type(name)
        # Enter opens the focused row: wait until the filtered list has put the file there.
        page.wait_for_selector(f".quick-input-list .monaco-list-row.focused:has-text('{name}')")
        page.keyboard.press("Enter")
        page.wait_for_selector(f".tab.active:has-text('{name}')")
        self.focus_editor()

    def focus_editor(self) -> None:
        self.page.click(".editor-instance .monaco-editor .view-lines")

    def palette(self, command: str, seconds: float = 30) -> None:
        """Run a command from the palette (F1), once the extension's commands are there."""
        page = self.page
        name = command.split(": ")[-1]
        label = f".quick-input-list .monaco-highlighted-label:has-text('{name}')"
        deadline = time.monotonic() + seconds
        while True:
            page.keyboard.press("F1")
            page.wait_for_selector(".quick-input-widget:visible")
            page.keyboard.type(command)
            try:
                page.wait_for_selector(label, timeout=2000)
                break
            except Exception:
                page.keyboard.press("Escape")
                if time.monotonic() > deadline:
                    raise
        page.keyboard.press("Enter")

    def pick(self, text: str, title: str | None = None) -> None:
        """Type into the open input box or quick pick and confirm."""
        page = self.page
        widget = ".quick-input-widget:visible"
        page.wait_for_selector(f"{widget} >> text={title}" if title else widget)
        page.keyboard.type(text)
        time.sleep(0.3)
        page.keyboard.press("Enter")

    def ask_selection(self, prompt: str, mode: str) -> None:
        self.page.keyboard.press("Control+A")
        self.palette("Meta AI: Ask about selection")
        self.pick(prompt, title="Ask Meta AI about the selection")
        self.page.wait_for_selector(
            f".quick-input-list .monaco-highlighted-label:has-text('{mode}')"
        )
        self.pick(mode)

    def saved(self, name: str) -> str:
        self.focus_editor()
        self.page.keyboard.press("Control+S")
        time.sleep(0.8)
        return (self.folder / name).read_text()

    def wait_lens(self, title: str, timeout: float = 30) -> None:
        self.page.wait_for_selector(
            f".codelens-decoration a:has-text('{title}')", timeout=timeout * 1000
        )

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def notifications(self) -> str:
        return " | ".join(self.page.locator(".notification-toast").all_inner_texts())

    @contextlib.contextmanager
    def slow_renderer(self, rate: float = 6) -> Iterator[None]:
        """The workbench as on a busy machine: its renderer's CPU throttled `rate` times."""
        cdp = self.page.context.new_cdp_session(self.page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
        try:
            yield
        finally:
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
            cdp.detach()

    def wait_ready(self) -> None:
        """The workbench is up and the extension's server answers (its setup check passes)."""
        page = self.page
        page.wait_for_selector(".monaco-workbench", timeout=90000)
        page.wait_for_selector(".statusbar", timeout=60000)
        try:
            page.click(".statusbar")  # focus the workbench
            self.palette("Meta AI: Check setup")
            page.wait_for_selector(".notification-toast >> text=every check passed", timeout=60000)
        except Exception:
            self.shot("setup-failed")
            raise
        page.keyboard.press("Escape")

    # -- the chat view

    def chat(self):
        """The chat view's page (a FrameLocator)."""
        return self.page.frame_locator(CHAT_FRAME).frame_locator("iframe")

    def chat_frame(self):
        """The chat view's page as a Frame, for evaluating scripts in it."""
        outer = self.page.locator(CHAT_FRAME).first
        frame = outer.element_handle().content_frame()
        inner = frame.child_frames[0] if frame else None
        if inner is None:
            raise AssertionError("the chat view has no page")
        return inner

    def open_chat(self) -> None:
        self.page.keyboard.press("Control+Shift+Alt+M")  # the extension's key binding
        self.chat().locator("#input").wait_for(timeout=30000)

    def chat_type(self, text: str) -> None:
        box = self.chat().locator("#input")
        box.click()
        box.press_sequentially(text)

    def chat_send(self, text: str) -> None:
        self.chat_type(text)
        self.chat().locator("#input").press("Enter")

    def answers(self) -> list[str]:
        return self.chat().locator(".turn.assistant .body").all_inner_texts()

    def wait_answers(self, count: int, timeout: float = 30) -> list[str]:
        """Until `count` answers are in the view, the last one finished."""
        chat = self.chat()
        chat.locator(".turn.assistant").nth(count - 1).wait_for(timeout=timeout * 1000)
        chat.locator(".turn.streaming").wait_for(state="detached", timeout=timeout * 1000)
        return self.answers()


@contextlib.contextmanager
def running_vscode(
    work: Path, files: dict[str, str], shots: Path, settings: dict[str, Any] | None = None
) -> Iterator[VSCode]:
    """code-server on `work/project` (holding `files`), the fake, and a browser page ready."""
    from playwright.sync_api import sync_playwright

    folder = work / "project"
    (folder / ".vscode").mkdir(parents=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    cookies = work / "cookies.json"
    cookies.write_text('{"ecto_1_sess": "vscode-e2e"}')
    cookies.chmod(0o600)
    fake_port, vscode_port = free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    # The server runs as a user's would: real identifiers (the 350 ms wait the fake's
    # gateway expects), none of the test suite's METAAI_ settings, its own history.
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAAI_")}
    env["PATH"] = f"{CACHE}/node/package/bin:{env['PATH']}"
    env["XDG_STATE_HOME"] = str(work / "state")
    env["XDG_CONFIG_HOME"] = str(work / "config")
    fake = subprocess.Popen(
        [sys.executable, "-m", "metaai_ls", "fake-server", "--port", str(fake_port)],
        stdout=subprocess.DEVNULL,
    )
    workspace_settings = {
        "metaai.serverPath": str(Path(sys.executable).parent / "metaai-ls"),
        "metaai.url": fake_url,
        "metaai.gatewayUrl": f"ws://127.0.0.1:{fake_port}/ws/clippy",
        "metaai.cookiesFile": str(cookies),
        "editor.codeLens": True,
        **(settings or {}),
    }
    (folder / ".vscode/settings.json").write_text(json.dumps(workspace_settings))
    user = work / "data/User"
    user.mkdir(parents=True)
    user_settings = {
        "security.workspace.trust.enabled": False,
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "chat.disableAIFeatures": True,
        "telemetry.telemetryLevel": "off",
        "files.autoSave": "off",
    }
    (user / "settings.json").write_text(json.dumps(user_settings))
    dirs = ["--user-data-dir", str(work / "data"), "--extensions-dir", str(work / "ext")]
    subprocess.run(
        [str(CODE_SERVER), *dirs, "--install-extension", str(VSIX)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    code_server = subprocess.Popen(
        [
            str(CODE_SERVER),
            *("--auth", "none", "--bind-addr", f"127.0.0.1:{vscode_port}", *dirs),
            *("--disable-telemetry", "--disable-update-check", str(folder)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(fake_url + "/__fake__/streams", 30)
        wait_http(f"http://127.0.0.1:{vscode_port}/healthz", 60)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=[
                    *("--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"),
                    *("--disable-background-networking", "--disable-component-update"),
                    "--disable-quic",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30000)
            page.goto(f"http://127.0.0.1:{vscode_port}/?folder={folder}")
            code = VSCode(page, folder, fake_url, shots, work)
            code.wait_ready()
            code.shot("check-setup")
            yield code
            browser.close()
    finally:
        code_server.terminate()
        fake.terminate()
        code_server.wait(10)
        fake.wait(10)
        shutil.rmtree(work / "data", ignore_errors=True)
