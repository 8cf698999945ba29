"""ChatKit conformance of POST /api/chatkit, with `openai-chatkit` 1.6.5's own types.

Every request is built with chatkit's request models and sent as the ChatKit client sends it
(one JSON body per POST); every JSON response and every streamed event is parsed with
chatkit's pydantic types (`Thread`, `Page[...]`, `ThreadStreamEvent`), which fails on any
shape the protocol does not allow. The flow: create -> add message -> items.list (paged) ->
get_by_id -> threads.list -> update -> feedback -> retry -> unsupported requests -> delete.

Usage: chatkit_conformance.py <app base url> <bearer token> <fake model origin>
Exits non-zero, with the reason, on the first departure from the protocol.
"""

import json
import sys
import urllib.error
import urllib.request

from chatkit.types import (
    AttachmentCreateParams,
    AttachmentsCreateReq,
    InferenceOptions,
    ItemFeedbackParams,
    ItemsFeedbackReq,
    ItemsListParams,
    ItemsListReq,
    Page,
    Thread,
    ThreadAddUserMessageParams,
    ThreadCreateParams,
    ThreadCustomActionParams,
    ThreadDeleteParams,
    ThreadGetByIdParams,
    ThreadItem,
    ThreadListParams,
    ThreadRetryAfterItemParams,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsRetryAfterItemReq,
    ThreadStreamEvent,
    ThreadsUpdateReq,
    ThreadUpdateParams,
    UserMessageInput,
    UserMessageTextContent,
)
from chatkit.actions import Action
from pydantic import TypeAdapter

BASE, TOKEN, MODEL = sys.argv[1], sys.argv[2], sys.argv[3]
EVENT = TypeAdapter(ThreadStreamEvent)
THREAD_PAGE = TypeAdapter(Page[Thread])
ITEM_PAGE = TypeAdapter(Page[ThreadItem])


def fail(message):
    print(f"NONCONFORMANT: {message}", file=sys.stderr)
    sys.exit(1)


def post(url, body, token=TOKEN):
    request = urllib.request.Request(
        url,
        data=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def script(*steps):
    post(f"{MODEL}/_script", {"responses": list(steps)})


def send(req):
    """A request model, sent as the client sends it."""
    return post(f"{BASE}/api/chatkit", req.model_dump_json(exclude_none=True).encode())


def events(req):
    status, content_type, body = send(req)
    if status != 200 or not content_type.startswith("text/event-stream"):
        fail(f"{req.type}: {status} {content_type} {body[:300]!r}")
    parsed = []
    for block in body.decode().split("\n\n"):
        data = [line[6:] for line in block.splitlines() if line.startswith("data: ")]
        if not data:
            continue
        try:
            parsed.append(EVENT.validate_json("\n".join(data)))
        except Exception as error:
            fail(f"{req.type}: event {data!r} is not a ThreadStreamEvent: {error}")
    return parsed


def whole(req, parse):
    status, content_type, body = send(req)
    if status != 200 or not content_type.startswith("application/json"):
        fail(f"{req.type}: {status} {content_type} {body[:300]!r}")
    try:
        return parse(body)
    except Exception as error:
        fail(f"{req.type}: {body[:300]!r} does not parse: {error}")


def user_input(text):
    return UserMessageInput(
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        inference_options=InferenceOptions(),
    )


def types_of(stream):
    return [e.type for e in stream]


def assistant_text(stream):
    done = [e for e in stream if e.type == "thread.item.done" and e.item.type == "assistant_message"]
    if len(done) != 1:
        fail(f"expected one finished assistant message, got {types_of(stream)}")
    deltas = "".join(
        e.update.delta
        for e in stream
        if e.type == "thread.item.updated" and e.update.type == "assistant_message.content_part.text_delta"
    )
    text = done[0].item.content[0].text
    if deltas != text:
        fail(f"the deltas {deltas!r} do not add up to the message {text!r}")
    return text


# 1. threads.create: a tool call, then a streamed answer.
script(
    {"tool_calls": [{"name": "create_task", "arguments": {"title": "Buy oat milk"}}]},
    {"text": "I added Buy oat milk to your tasks."},
)
stream = events(ThreadsCreateReq(params=ThreadCreateParams(input=user_input("add buy oat milk"))))
kinds = types_of(stream)
if kinds[:3] != ["thread.created", "thread.item.done", "stream_options"]:
    fail(f"threads.create starts with {kinds[:3]}")
if "progress_update" not in kinds:
    fail(f"no progress_update while the tool ran: {kinds}")
if assistant_text(stream) != "I added Buy oat milk to your tasks.":
    fail("the assistant message is not the model's answer")
thread = stream[0].thread
user_item = stream[1].item
if user_item.type != "user_message" or user_item.content[0].text != "add buy oat milk":
    fail(f"the user message came back as {user_item}")

# 2. threads.add_user_message
script({"text": "You have one task: Buy oat milk."})
stream = events(
    ThreadsAddUserMessageReq(
        params=ThreadAddUserMessageParams(thread_id=thread.id, input=user_input("what is on my list?"))
    )
)
if types_of(stream)[:2] != ["thread.item.done", "stream_options"]:
    fail(f"add_user_message starts with {types_of(stream)[:2]}")
second_user_item = stream[0].item
assistant_text(stream)

# 3. items.list, paged both ways: user, assistant, user, assistant (tool steps are hidden)
page = whole(
    ItemsListReq(params=ItemsListParams(thread_id=thread.id, limit=3, order="asc")),
    ITEM_PAGE.validate_json,
)
if [i.type for i in page.data] != ["user_message", "assistant_message", "user_message"] or not page.has_more:
    fail(f"items.list page 1: {[i.type for i in page.data]} has_more={page.has_more}")
rest = whole(
    ItemsListReq(params=ItemsListParams(thread_id=thread.id, limit=3, order="asc", after=page.after)),
    ITEM_PAGE.validate_json,
)
if [i.type for i in rest.data] != ["assistant_message"] or rest.has_more:
    fail(f"items.list page 2: {[i.type for i in rest.data]} has_more={rest.has_more}")
newest = whole(
    ItemsListReq(params=ItemsListParams(thread_id=thread.id, limit=1, order="desc")),
    ITEM_PAGE.validate_json,
)
if newest.data[0].id != rest.data[0].id:
    fail("items.list desc does not start at the newest item")

# 4. threads.get_by_id
full = whole(ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread.id)), Thread.model_validate_json)
if len(full.items.data) != 4 or full.id != thread.id:
    fail(f"get_by_id: {len(full.items.data)} items")

# 5. threads.list
threads = whole(ThreadsListReq(params=ThreadListParams()), THREAD_PAGE.validate_json)
if [t.id for t in threads.data] != [thread.id]:
    fail(f"threads.list: {[t.id for t in threads.data]}")

# 6. threads.update
updated = whole(
    ThreadsUpdateReq(params=ThreadUpdateParams(thread_id=thread.id, title="Groceries")),
    Thread.model_validate_json,
)
if updated.title != "Groceries":
    fail(f"threads.update: title {updated.title!r}")

# 7. items.feedback
status, _, body = send(
    ItemsFeedbackReq(params=ItemFeedbackParams(thread_id=thread.id, item_ids=[rest.data[0].id], kind="positive"))
)
if status != 200 or json.loads(body) != {}:
    fail(f"items.feedback: {status} {body!r}")

# 8. threads.retry_after_item: the answer after the second message is replaced.
script({"text": "Again: one task, Buy oat milk."})
stream = events(
    ThreadsRetryAfterItemReq(params=ThreadRetryAfterItemParams(thread_id=thread.id, item_id=second_user_item.id))
)
if assistant_text(stream) != "Again: one task, Buy oat milk.":
    fail("retry did not answer again")
after_retry = whole(
    ItemsListReq(params=ItemsListParams(thread_id=thread.id, order="asc")), ITEM_PAGE.validate_json
)
if len(after_retry.data) != 4 or after_retry.data[-1].content[0].text != "Again: one task, Buy oat milk.":
    fail(f"after retry: {[i.type for i in after_retry.data]}")

# 9. Unsupported requests: the protocol's error event (streaming), a 400 (the others).
stream = events(
    ThreadsCustomActionReq(
        params=ThreadCustomActionParams(thread_id=thread.id, action=Action(type="do.something", payload={}))
    )
)
if types_of(stream) != ["error"] or stream[0].allow_retry:
    fail(f"custom_action: {types_of(stream)}")
status, _, body = send(AttachmentsCreateReq(params=AttachmentCreateParams(name="a.png", size=1, mime_type="image/png")))
if status != 400 or "not supported" not in json.loads(body)["detail"]:
    fail(f"attachments.create: {status} {body!r}")

# 10. threads.delete, and the thread and its items are gone.
status, _, body = send(ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread.id)))
if status != 200 or json.loads(body) != {}:
    fail(f"threads.delete: {status} {body!r}")
status, _, _ = send(ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread.id)))
if status != 404:
    fail(f"get_by_id after delete: {status}")

print(json.dumps({"thread_id": thread.id, "conformant": True}))
