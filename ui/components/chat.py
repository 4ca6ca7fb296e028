"""A conversation on screen: chat bubbles (the student on the right, the client on the
left), the reply streaming in, and the list that keeps the newest message in view."""

import reflex as rx

STATUS_BADGES = {
    "CANCELLED": ("Stopped", "amber"),
    "FAILED": ("Not answered", "red"),
    "INTERRUPTED": ("Interrupted", "red"),
    "STREAMING": ("Writing…", "gray"),
}
# A transcript is read afterwards: a reply still unfinished there is not shown as live.
PAST_BADGES = {**STATUS_BADGES, "STREAMING": ("Unfinished", "gray")}


def _status_badge(status, fallback, badges=STATUS_BADGES) -> rx.Component:
    return rx.fragment(
        rx.match(
            status,
            *[
                (
                    key,
                    rx.badge(
                        label, color_scheme=colour, variant="soft", high_contrast=True, size="1"
                    ),
                )
                for key, (label, colour) in badges.items()
            ],
            rx.fragment(),
        ),
        rx.cond(fallback, rx.badge("Fallback reply", color_scheme="gray", size="1")),
    )


def _bubble(is_user, sender, when, body: rx.Component, badges: rx.Component, **props):
    return rx.flex(
        rx.box(
            rx.flex(
                rx.text(sender, size="1", weight="bold"),
                rx.text(when, size="1", color_scheme="gray"),
                badges,
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            body,
            background_color=rx.cond(is_user, rx.color("accent", 4), rx.color("gray", 3)),
            border=f"1px solid {rx.color('gray', 4)}",
            border_radius=rx.cond(is_user, "1rem 1rem 0.25rem 1rem", "1rem 1rem 1rem 0.25rem"),
            padding="0.5rem 0.875rem 0.625rem",
            max_width="min(85%, 38rem)",
            min_width="6rem",
        ),
        justify=rx.cond(is_user, "end", "start"),
        width="100%",
        **props,
    )


def _body(text, **props) -> rx.Component:
    return rx.text(
        text,
        **props,
        size="3",
        white_space="pre-wrap",
        overflow_wrap="anywhere",
        margin_top="0.125rem",
    )


def chat_bubble(message, client_name, student="You", full_time: bool = False) -> rx.Component:
    """One stored message (a `ChatMessage` var); `student` names the student ("You" when
    they are the reader); `full_time` (a transcript) shows the date too, and an unfinished
    reply as such rather than as being written."""
    is_user = message.role == "USER"
    no_reply = (
        rx.cond(message.status == "STREAMING", "No reply yet", "No reply")
        if full_time
        else "No reply"
    )
    return _bubble(
        is_user,
        rx.cond(is_user, student, client_name),
        message.time if full_time else message.clock,
        rx.cond(
            message.content != "",
            _body(message.content),
            rx.text(
                no_reply,
                size="2",
                color_scheme="gray",
                font_style="italic",
            ),
        ),
        _status_badge(
            message.status, message.fallback, PAST_BADGES if full_time else STATUS_BADGES
        ),
        data_testid="message",
        data_role=message.role,
        data_status=message.status,
    )


def streaming_bubble(text, client_name) -> rx.Component:
    """The reply being generated; until its first word, the client is 'typing'."""
    return _bubble(
        False,
        client_name,
        "now",
        rx.cond(
            text != "",
            _body(text, data_testid="streaming-text"),
            rx.hstack(
                rx.spinner(size="1"),
                rx.text(client_name, " is typing…", size="2", color_scheme="gray"),
                align="center",
                padding_y="0.25rem",
            ),
        ),
        _status_badge("STREAMING", False),
        data_testid="streaming-reply",
    )


def message_list(
    messages, client_name, student, reply_text, streaming, empty, **props
) -> rx.Component:
    """Stored messages in order, then the streaming reply (announced politely to screen
    readers); `empty` shows when there is nothing yet. The page scrolls, not the list:
    `CHAT_SCRIPT` keeps the newest message in view unless the reader has scrolled up."""
    return rx.vstack(
        rx.cond((messages.length() == 0) & ~streaming, empty),
        rx.foreach(messages, lambda message: chat_bubble(message, client_name, student)),
        rx.box(
            rx.cond(streaming, streaming_bubble(reply_text, client_name)),
            aria_live="polite",
            width="100%",
        ),
        role="region",
        aria_label="Conversation",
        data_chat_log=True,
        spacing="3",
        width="100%",
        **props,
    )


# The chat page's behaviour in the browser, without a round trip per keystroke:
# - the page follows the conversation as it grows (the newest message stays in view) unless
#   the reader has scrolled up to read;
# - what the student is writing is kept per session in localStorage (the box's
#   `data-session`) until it is sent, so that a reload or a lost tab keeps the draft;
# - the box grows with its text where CSS `field-sizing` is not supported.
CHAT_SCRIPT = """
(() => {
  if (window.practicumChat) return;
  const NEAR_END = 120;
  const key = (session) => 'practicum-draft:' + session;
  const restored = new WeakMap();
  let following = true;
  const page = () => document.documentElement;
  const atEnd = () => innerHeight + scrollY >= page().scrollHeight - NEAR_END;
  const box = () => document.querySelector('textarea[data-session]');
  const grow = (area) => {
    if (CSS.supports('field-sizing', 'content')) return;
    area.style.height = 'auto';
    area.style.height = area.scrollHeight + 'px';
  };
  const save = (area) => {
    const session = area.dataset.session;
    if (!session) return;
    try {
      if (area.value) localStorage.setItem(key(session), area.value);
      else localStorage.removeItem(key(session));
    } catch (e) { /* storage full or blocked: the draft is simply not kept */ }
  };
  const restore = () => {
    const area = box();
    if (!area || !area.dataset.session || restored.get(area) === area.dataset.session) return;
    restored.set(area, area.dataset.session);
    let draft = null;
    try { draft = localStorage.getItem(key(area.dataset.session)); } catch (e) {}
    if (draft && !area.value) { area.value = draft; grow(area); }
  };
  let lastY = scrollY;
  addEventListener('scroll', () => {  // only scrolling up to read stops the following
    if (atEnd()) following = true;
    else if (scrollY < lastY) following = false;
    lastY = scrollY;
  }, {passive: true});
  document.addEventListener('input', (event) => {
    if (event.target === box()) { save(event.target); grow(event.target); }
  });
  new MutationObserver(() => {
    if (!document.querySelector('[data-chat-log]')) { following = true; return; }
    restore();
    if (following && !atEnd()) scrollTo(0, page().scrollHeight);
  }).observe(document.body, {subtree: true, childList: true, characterData: true,
                             attributes: true, attributeFilter: ['data-session']});
  window.practicumChat = {
    sent() {  // the message is stored: empty the box and forget its draft
      const area = box();
      if (!area) return;
      area.value = '';
      save(area);
      grow(area);
      following = true;
    },
  };
})();
"""
