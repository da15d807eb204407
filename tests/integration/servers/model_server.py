#!/usr/bin/env python3
"""A scripted stand-in for the model APIs of Codex, Claude Code, Gemini CLI and Copilot CLI.

Usage: model_server.py [--port 8000] [--script FILE] [--model NAME ...]

One port speaks four wire APIs (Python 3.11 stdlib only):
  POST /v1/responses                            OpenAI Responses (Codex; Copilot with wire_api=responses)
  POST /v1/messages[?beta=true]                 Anthropic Messages (Claude Code), /v1/messages/count_tokens
  POST /v1beta/models/M:generateContent         Gemini (the CLI's JSON side calls, e.g. its router)
       /v1beta/models/M:streamGenerateContent   Gemini, SSE; M:countTokens
  POST /v1/chat/completions                     OpenAI chat completions (Copilot BYOK)
  GET  /v1/models[/ID], other GETs under /v1... a harmless model list / object
Control (not under /v1): GET /_health, GET /_requests (every request so far: method, path, query,
headers, body, "step": the script index it was answered from or null, "answer": what it got), GET
/_script, POST /_script (replace the script), POST /_reset (clear the records).
CONNECT (and absolute-URI requests) are recorded and refused with 403: point a CLI's HTTPS_PROXY
here to see which other hosts it tries.

The script is a JSON list of steps:
  {"shell": CMD}               the CLI's own shell tool (picked from the tools the request offers)
  {"tool": PART, "args": {}}   the offered tool whose name contains PART (MCP tools: mcp__srv__echo...)
  {"text": T}                  a final assistant message (ends the turn)
After the last step the answer is the text "done". The step is chosen statelessly: it is the number of
tool results already in the request's conversation, so retries and side requests never advance it.
Requests that offer no tools (titles, quota probes, summaries) get a short text, never a tool call;
Gemini's JSON side calls (its model router) get JSON filling the schema they ask for. Claude Code only
names MCP tools until the model loads them: a {"tool": ...} step then first calls its ToolSearch tool
(not counted as a step).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import threading
import time
import traceback
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIDE_TEXT = "ok"  # the answer to requests that are not the main conversation
FINAL_TEXT = "done"  # the answer once the script has run out
# Shell tools by CLI, most specific first; a request offering one of these gets it for {"shell": ...}.
SHELL_TOOLS = ("exec_command", "shell_command", "shell", "Bash", "run_shell_command", "bash")
USAGE = {"input": 12, "output": 5}
TOOL_SEARCH = "ToolSearch"  # Claude Code's loader for deferred tools
CONTROL = ("/_health", "/_requests", "/_script", "/_reset")  # not recorded

_lock = threading.Lock()
_records: list[dict] = []
_script: list[dict] = []
_models: list[str] = ["test-model"]  # listed by GET /v1/models, plus every model a request named


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def validate_script(script) -> list[dict]:
    if not isinstance(script, list):
        raise ValueError("the script must be a JSON list of steps")
    for number, step in enumerate(script):
        kinds = [key for key in ("shell", "tool", "text") if key in step] if isinstance(step, dict) else []
        if len(kinds) != 1 or not isinstance(step[kinds[0]], str):
            raise ValueError(f"step {number}: want exactly one of shell/tool/text (a string): {step!r}")
        if not isinstance(step.get("args", {}), dict):
            raise ValueError(f"step {number}: args must be an object")
    return script


# --- choosing the answer: the same for every API ------------------------------------------------

def fill_schema(schema: dict, name: str = ""):
    """A small value that satisfies a JSON schema (for the CLIs' JSON side calls and required args)."""
    if not isinstance(schema, dict):
        return SIDE_TEXT
    if "enum" in schema and schema["enum"]:
        values = schema["enum"]
        return "user" if "user" in values else values[0]  # next-speaker checks: hand the turn back
    kind = schema.get("type", "object")
    kind = (kind[0] if kind else "object") if isinstance(kind, list) else str(kind).lower()
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: fill_schema(value, key) for key, value in properties.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return f"scripted {name}".strip() if name else SIDE_TEXT


def shell_args(schema: dict, command: str) -> dict:
    """Arguments for a shell tool, shaped by its schema: `cmd` (Codex) or `command` (the others),
    a string or an argv list, plus any other required string such as Copilot's `description`."""
    properties = (schema or {}).get("properties", {})
    key = "cmd" if "cmd" in properties else "command"
    args = {key: ["bash", "-lc", command] if properties.get(key, {}).get("type") == "array" else command}
    if "description" in properties:  # shown to the user by Claude and Copilot
        args["description"] = "scripted step"
    for name in (schema or {}).get("required", []):
        if name not in args:
            args[name] = fill_schema(properties.get(name, {}), name)
    return args


def choose(tools: dict[str, dict], results: int) -> tuple[int | None, dict]:
    """(step index, action) for a request offering `tools` (name -> parameter schema) and holding
    `results` tool results. An action is {"text": T} or {"call": NAME, "args": {...}}; a tool step
    whose tool is not offered gives a text naming the offered ones, with "missing": PART."""
    if not tools:
        return None, {"text": SIDE_TEXT}
    with _lock:
        step = _script[results] if results < len(_script) else {"text": FINAL_TEXT}
    if "text" in step:
        return results, {"text": step["text"]}
    if "shell" in step:
        name = next((n for n in SHELL_TOOLS if n in tools), None)
        if name is None:
            return results, {"text": f"model_server: no shell tool among {sorted(tools)}"}
        return results, {"call": name, "args": {**shell_args(tools[name], step["shell"]), **step.get("args", {})}}
    name = next((n for n in tools if step["tool"] in n), None)
    if name is None:
        return results, {"text": f"model_server: no tool matching {step['tool']!r} among {sorted(tools)}",
                         "missing": step["tool"]}
    return results, {"call": name, "args": step.get("args", {})}


def strings(value) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [text for item in value for text in strings(item)] if isinstance(value, list) else []


def sse(events: list[tuple[str | None, dict | str]]) -> bytes:
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
    return "".join(out).encode()


def call_id(step: int, prefix: str) -> str:
    return f"{prefix}{step:03d}"  # deterministic per step: a retry repeats the same id


# --- OpenAI Responses (Codex) ---------------------------------------------------------------------

def responses_tools(body: dict) -> dict[str, dict]:
    tools = {}
    for tool in body.get("tools") or []:
        if tool.get("type") == "function" and tool.get("name"):
            tools[tool["name"]] = tool.get("parameters") or {}
        elif tool.get("type") == "namespace":  # Codex groups each MCP server's tools in a namespace
            for inner in tool.get("tools") or []:  # shown as mcp__srv__echo, as Claude names them
                tools[f"{tool.get('name')}__{inner.get('name')}"] = inner.get("parameters") or {}
    return tools


def responses_split(body: dict, name: str) -> tuple[str | None, str]:
    """(namespace, name) of a tool picked from responses_tools: a call names both."""
    for tool in body.get("tools") or []:
        if tool.get("type") == "namespace":
            for inner in tool.get("tools") or []:
                if f"{tool.get('name')}__{inner.get('name')}" == name:
                    return tool["name"], inner["name"]
    return None, name


def responses_results(body: dict) -> int:
    items = body.get("input") if isinstance(body.get("input"), list) else []
    return sum(1 for item in items if isinstance(item, dict) and str(item.get("type", "")).endswith("call_output"))


def render_responses(body: dict, step: int | None, action: dict) -> tuple[str, bytes]:
    rid = f"resp_{int(time.time() * 1000)}"
    usage = {"input_tokens": USAGE["input"], "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": USAGE["output"], "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": USAGE["input"] + USAGE["output"]}
    if "call" in action:
        namespace, name = responses_split(body, action["call"])
        item = {"type": "function_call", "id": "fc_" + call_id(step or 0, ""), "call_id": call_id(step or 0, "call_"),
                "name": name, "arguments": json.dumps(action["args"]), "status": "completed"}
        if namespace:
            item["namespace"] = namespace
    else:
        item = {"type": "message", "id": f"msg_{rid}", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": action["text"], "annotations": []}]}
    response = {"id": rid, "object": "response", "created_at": int(time.time()), "model": body.get("model"),
                "status": "completed", "output": [item], "usage": usage}
    if not body.get("stream"):
        return "application/json", json.dumps(response).encode()
    events = [("response.created", {"type": "response.created", "response": {**response, "status": "in_progress",
                                                                            "output": [], "usage": None}}),
              ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
              ("response.completed", {"type": "response.completed", "response": response})]
    return "text/event-stream", sse(events)


# --- Anthropic Messages (Claude Code) -----------------------------------------------------------

def messages_tools(body: dict) -> dict[str, dict]:
    return {t["name"]: t.get("input_schema") or {} for t in body.get("tools") or []
            if t.get("name") and t["name"] != "DeferredToolPlaceholder"}  # "never call this tool"


def messages_blocks(body: dict, kind: str) -> list[dict]:
    return [block for message in body.get("messages") or [] if isinstance(message.get("content"), list)
            for block in message["content"] if isinstance(block, dict) and block.get("type") == kind]


def messages_results(body: dict) -> int:
    # The ToolSearch calls this server makes on its own (messages_search) are not script steps.
    searches = {b.get("id") for b in messages_blocks(body, "tool_use") if b.get("name") == TOOL_SEARCH}
    return sum(1 for block in messages_blocks(body, "tool_result") if block.get("tool_use_id") not in searches)


def messages_search(body: dict, tools: dict[str, dict], action: dict) -> dict:
    """For a {"tool": PART} step whose tool is deferred (named in the prompt, not offered yet): call
    ToolSearch to load it, once; the next request then offers it."""
    if "missing" not in action or TOOL_SEARCH not in tools:
        return action
    words = [w for text in strings([body.get("system"), body.get("messages")]) for w in re.findall(r"[\w.-]+", text)]
    names = [w for w in words if action["missing"] in w and w.startswith("mcp__")]
    names = names or [w for w in words if action["missing"] in w]
    asked = {json.dumps(b.get("input")) for b in messages_blocks(body, "tool_use") if b.get("name") == TOOL_SEARCH}
    for name in names:
        args = {"query": f"select:{name}"}
        if json.dumps(args) not in asked:
            return {"call": TOOL_SEARCH, "args": args, "search": True}
    return action


def render_messages(body: dict, step: int | None, action: dict) -> tuple[str, bytes]:
    usage = {"input_tokens": USAGE["input"], "output_tokens": USAGE["output"],
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    if "call" in action:
        prefix = "toolu_search_" if action.get("search") else "toolu_"  # ids stay unique in the conversation
        block = {"type": "tool_use", "id": call_id(step or 0, prefix), "name": action["call"], "input": action["args"]}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(action["args"])}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": action["text"]}
        delta = {"type": "text_delta", "text": action["text"]}
        stop = "end_turn"
    message = {"id": f"msg_{int(time.time() * 1000)}", "type": "message", "role": "assistant",
               "model": body.get("model"), "content": [block], "stop_reason": stop, "stop_sequence": None,
               "usage": usage}
    if not body.get("stream"):
        return "application/json", json.dumps(message).encode()
    empty = {**block, "input": {}} if "call" in action else {**block, "text": ""}  # content arrives as deltas
    events = [("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None,
                                                                      "usage": {**usage, "output_tokens": 1}}}),
              ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": empty}),
              ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
              ("content_block_stop", {"type": "content_block_stop", "index": 0}),
              ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                 "usage": {"output_tokens": USAGE["output"]}}),
              ("message_stop", {"type": "message_stop"})]
    return "text/event-stream", sse(events)


# --- Gemini (Gemini CLI) ------------------------------------------------------------------------

def gemini_tools(body: dict) -> dict[str, dict]:
    return {d["name"]: d.get("parametersJsonSchema") or d.get("parameters") or {}
            for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or [] if d.get("name")}


def gemini_results(body: dict) -> int:
    return sum(1 for content in body.get("contents") or [] for part in content.get("parts") or []
               if isinstance(part, dict) and "functionResponse" in part)


def gemini_schema(body: dict) -> dict | None:
    config = body.get("generationConfig") or body.get("config") or {}
    return config.get("responseJsonSchema") or config.get("responseSchema")


def render_gemini(body: dict, step: int | None, action: dict, stream: bool) -> tuple[str, bytes]:
    if "call" in action:
        part = {"functionCall": {"name": action["call"], "args": action["args"]}}
    else:
        part = {"text": action["text"]}
    chunk = {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
             "usageMetadata": {"promptTokenCount": USAGE["input"], "candidatesTokenCount": USAGE["output"],
                               "totalTokenCount": USAGE["input"] + USAGE["output"]},
             "modelVersion": "model-server", "responseId": f"r{int(time.time() * 1000)}"}
    if stream:
        return "text/event-stream", sse([(None, chunk)])
    return "application/json", json.dumps(chunk).encode()


# --- OpenAI chat completions (Copilot BYOK) -------------------------------------------------------

def chat_tools(body: dict) -> dict[str, dict]:
    return {t["function"]["name"]: t["function"].get("parameters") or {}
            for t in body.get("tools") or [] if isinstance(t.get("function"), dict) and t["function"].get("name")}


def chat_results(body: dict) -> int:
    return sum(1 for message in body.get("messages") or [] if message.get("role") == "tool")


def render_chat(body: dict, step: int | None, action: dict) -> tuple[str, bytes]:
    base = {"id": f"chatcmpl-{int(time.time() * 1000)}", "created": int(time.time()), "model": body.get("model")}
    usage = {"prompt_tokens": USAGE["input"], "completion_tokens": USAGE["output"],
             "total_tokens": USAGE["input"] + USAGE["output"]}
    if "call" in action:
        call = {"id": call_id(step or 0, "call_"), "type": "function",
                "function": {"name": action["call"], "arguments": json.dumps(action["args"])}}
        message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": action["text"]}, "stop"
    if not body.get("stream"):
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return "application/json", json.dumps({**base, "object": "chat.completion", "choices": [choice],
                                               "usage": usage}).encode()
    chunk = {**base, "object": "chat.completion.chunk"}
    delta = dict(message)
    if "tool_calls" in delta:
        delta["tool_calls"] = [{"index": 0, **delta["tool_calls"][0]}]
    events = [(None, {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}),
              (None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})]
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append((None, {**chunk, "choices": [], "usage": usage}))
    events.append((None, "[DONE]"))
    return "text/event-stream", sse(events)


def model_object(model_id: str) -> dict:
    # One object that reads as an OpenAI and as an Anthropic model.
    return {"id": model_id, "object": "model", "type": "model", "display_name": model_id, "created": 0,
            "created_at": "2025-01-01T00:00:00Z", "owned_by": "model-server"}


# --- HTTP ------------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "model-server/1"
    timeout = 300  # idle keep-alive connections end

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # one line per request from _reply instead

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_CONNECT = do_GET

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while (size := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)) > 0:
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
            while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            raw = b"".join(parts)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported Content-Encoding {encoding}")
        return raw

    def _handle(self):
        # CONNECT's target is host:port, not a URL
        split = urllib.parse.urlsplit("" if self.command == "CONNECT" else self.path)
        record = {"time": time.time(), "method": self.command, "path": split.path or self.path, "query": split.query,
                  "headers": dict(self.headers.items()), "body": None, "answer": None, "step": None, "status": None}
        try:
            raw = b"" if self.command == "CONNECT" else self._body()
            text = raw.decode("utf-8", errors="replace")
            try:
                record["body"] = json.loads(text) if text.strip() else None
            except ValueError:
                record["body"] = text
            if self.command == "CONNECT" or split.scheme:  # a proxy request: someone else's host
                record["target"] = self.path if self.command == "CONNECT" else split.netloc
                record["answer"] = {"kind": "proxy-refused"}
                status, kind, payload = 403, "application/json", json.dumps({"error": "no other hosts"}).encode()
                self.close_connection = True
            else:
                status, kind, payload = self._route(split, record)
        except Exception as error:  # noqa: BLE001 - a bad request must not kill the server
            if not isinstance(error, ValueError):  # ValueError: a bad body or script, said in the reply
                log(traceback.format_exc())
            self.close_connection = True  # the body may not have been read to its end
            record["answer"] = {"kind": "error", "error": str(error)}
            status, kind, payload = 400, "application/json", json.dumps(
                {"error": {"type": "invalid_request_error", "message": str(error)}}).encode()
        record["status"] = status
        if record["path"] not in CONTROL:
            with _lock:
                _records.append(record)
        self._reply(status, kind, payload, record)

    def _route(self, split, record) -> tuple[int, str, bytes]:
        global _script
        path, method, body = split.path, self.command, record["body"]
        if not isinstance(body, dict):
            body = {}
        if method in ("GET", "HEAD") and path == "/_health":
            return 200, "text/plain", b"ok"
        if method == "GET" and path == "/_requests":
            with _lock:
                return 200, "application/json", json.dumps(_records).encode()
        if method == "GET" and path == "/_script":
            with _lock:
                return 200, "application/json", json.dumps(_script).encode()
        if method == "POST" and path == "/_script":
            new = validate_script(record["body"])
            with _lock:
                _script = new
            return 200, "application/json", json.dumps({"steps": len(new)}).encode()
        if method == "POST" and path == "/_reset":
            with _lock:
                _records.clear()
            return 200, "application/json", b"{}"

        if method == "POST" and not isinstance(record["body"], dict):
            raise ValueError("the request body must be a JSON object")
        if isinstance(body.get("model"), str):
            with _lock:
                if body["model"] not in _models:
                    _models.append(body["model"])
        gemini = re.fullmatch(r"/v1(?:beta|alpha|)/models/([^/:]+):(\w+)", path)
        if method == "POST" and path == "/v1/responses":
            step, action = choose(responses_tools(body), responses_results(body))
            kind, payload = render_responses(body, step, action)
        elif method == "POST" and path == "/v1/messages":
            tools = messages_tools(body)
            step, action = choose(tools, messages_results(body))
            action = messages_search(body, tools, action)
            kind, payload = render_messages(body, step, action)
        elif method == "POST" and path == "/v1/messages/count_tokens":
            record["answer"] = {"kind": "count"}
            return 200, "application/json", json.dumps({"input_tokens": len(json.dumps(body)) // 4}).encode()
        elif method == "POST" and path == "/v1/chat/completions":
            step, action = choose(chat_tools(body), chat_results(body))
            kind, payload = render_chat(body, step, action)
        elif method == "POST" and gemini and gemini.group(2) == "countTokens":
            record["answer"] = {"kind": "count"}
            return 200, "application/json", json.dumps({"totalTokens": len(json.dumps(body)) // 4}).encode()
        elif method == "POST" and gemini and gemini.group(2) in ("generateContent", "streamGenerateContent"):
            schema = gemini_schema(body)
            if schema and not gemini_tools(body):  # a JSON side call (router, next speaker...): fill the schema
                step, action = None, {"text": json.dumps(fill_schema(schema))}
            else:
                step, action = choose(gemini_tools(body), gemini_results(body))
            kind, payload = render_gemini(body, step, action, stream=gemini.group(2) == "streamGenerateContent")
        elif method == "GET" and re.fullmatch(r"/v1(beta)?/models", path):
            with _lock:
                data = [model_object(m) for m in _models]
            record["answer"] = {"kind": "models"}
            return 200, "application/json", json.dumps({"object": "list", "data": data, "models": [
                {"name": f"models/{m}"} for m in _models], "has_more": False, "first_id": data[0]["id"],
                "last_id": data[-1]["id"]}).encode()
        elif method == "GET" and (m := re.fullmatch(r"/v1(?:beta)?/models/([^/:]+)", path)):
            record["answer"] = {"kind": "models"}
            return 200, "application/json", json.dumps({**model_object(m.group(1)),
                                                        "name": f"models/{m.group(1)}"}).encode()
        elif method == "GET" and path.startswith("/v1"):
            record["answer"] = {"kind": "static"}
            return 200, "application/json", json.dumps({"object": "list", "data": []}).encode()
        else:
            record["answer"] = {"kind": "unknown"}
            return 404, "application/json", json.dumps(
                {"error": {"type": "not_found_error", "message": f"model_server: no {method} {path}"}}).encode()
        record["step"] = step  # None for side requests: record["answer"] says what they got
        record["answer"] = {"kind": "side" if step is None else "step", "step": step, **action}
        return 200, kind, payload

    def _reply(self, status: int, kind: str, payload: bytes, record: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        if kind == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        answer = record.get("answer") or {}
        what = answer.get("call") or ("text" if "text" in answer else answer.get("kind", ""))
        target = f" target={record['target']}" if "target" in record else ""
        step = f" step={answer['step']}" if answer.get("step") is not None else ""
        log(f"{self.command} {self.path} {status} {what}{step}{target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--script", help="a JSON file holding the list of steps")
    parser.add_argument("--model", action="append", default=[], help="a model name for GET /v1/models")
    args = parser.parse_args(argv)
    global _script
    if args.script:
        with open(args.script, encoding="utf-8") as file:
            _script = validate_script(json.load(file))
    _models[:0] = [m for m in args.model if m not in _models]
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    log(f"ready: model server on http://{args.host}:{args.port} with {len(_script)} steps")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
