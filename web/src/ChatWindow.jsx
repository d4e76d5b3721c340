// ChatWindow.jsx — one open chat: history (newest page first, older pages
// loaded by seq when scrolled to the top), the live event feed
// (chatEvents(chatId, afterSeq) — resumed after a reconnect from the last seq
// held, so nothing is missed and nothing shown twice: messages are keyed by
// id), optimistic sends with retry (clientId makes the retry idempotent),
// edit/delete of own messages, typing, read receipts (✓✓ gray until every
// other participant's read watermark reaches the message, then blue), and
// auto-mark-as-read of messages from others once they are on screen.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import * as net from './net.js';
import * as ops from './ops.js';
import { chatTitle, displayName } from './App.jsx';

const PAGE = 30; // messages per history page
const TYPING_SEND_EVERY_MS = 2500; // resend isTyping:true at most this often
const TYPING_IDLE_MS = 3000; // isTyping:false after this long without a key
const TYPING_SHOW_MS = 6000; // hide someone's indicator without a refresh

const bySeq = (a, b) => a.seq - b.seq;

export function ChatWindow({ chat, me, online, onAddPeople, onChatChanged }) {
  const [messages, setMessages] = useState([]); // server messages, by seq
  const messagesRef = useRef(messages);
  messagesRef.current = messages;
  const [pending, setPending] = useState([]); // {clientId, content, status}
  const [marks, setMarks] = useState({}); // userId -> read watermark (seq)
  const [hasMore, setHasMore] = useState(false);
  const [typing, setTyping] = useState({}); // userId -> expiry ms
  const [draft, setDraft] = useState('');
  const [editing, setEditing] = useState(null); // {id, content}
  const [error, setError] = useState('');
  const [loaded, setLoaded] = useState(false);
  const seqRef = useRef(0); // newest chat seq applied
  const markedRef = useRef(0); // newest seq we marked read
  const listRef = useRef(null);
  const stickRef = useRef(true); // keep scrolled to the bottom
  const prevHeight = useRef(null);
  const typingSent = useRef(0);
  const typingTimer = useRef(null);
  const chatId = chat.id;
  const others = chat.participantIds.filter((id) => id !== me.id);
  const people = Object.fromEntries((chat.participants || []).map((p) => [p.id, p]));

  const merge = useCallback((list) => {
    setMessages((ms) => {
      const map = new Map(ms.map((m) => [m.id, m]));
      for (const m of list) map.set(m.id, m);
      return [...map.values()].sort(bySeq);
    });
  }, []);
  const raiseMarks = useCallback((pairs) => {
    setMarks((mk) => {
      let n = mk;
      for (const [u, s] of pairs) if ((n[u] || 0) < s) n = { ...n, [u]: s };
      return n;
    });
  }, []);

  // read status of own messages in a page → watermarks of the others
  const loadReadStatus = useCallback(async (list) => {
    const own = list.filter((m) => m.senderId === me.id && !m.deletedAt);
    if (!own.length) return;
    try {
      const d = await net.query(ops.readStatusQuery(own.map((m) => m.id)));
      const pairs = [];
      own.forEach((m, i) => {
        const st = d[`r${i}`];
        if (st) for (const r of st.readByUsers) pairs.push([r.userId, m.seq]);
      });
      raiseMarks(pairs);
    } catch {
      /* ticks stay gray until the next read event */
    }
  }, [me.id, raiseMarks]);

  // (re)load the newest page; seqRef first from the chat, so the feed
  // replays everything after what the page could have missed
  const loadLatest = useCallback(async () => {
    try {
      const c = await net.query(ops.GET_CHAT, { id: chatId });
      const d = await net.query(ops.GET_MESSAGES, { chatId, limit: PAGE });
      if (c.chat) seqRef.current = Math.max(seqRef.current, c.chat.lastSeq || 0);
      merge(d.messages);
      setHasMore(d.messages.length === PAGE);
      setLoaded(true);
      await loadReadStatus(d.messages);
    } catch (e) {
      setError(net.errText(e));
    }
  }, [chatId, merge, loadReadStatus]);

  async function loadOlder() {
    if (!messages.length) return;
    const el = listRef.current;
    prevHeight.current = el ? el.scrollHeight - el.scrollTop : null;
    const d = await net.query(ops.GET_MESSAGES, { chatId, limit: PAGE, beforeSeq: messages[0].seq });
    merge(d.messages);
    setHasMore(d.messages.length === PAGE);
    loadReadStatus(d.messages);
  }

  // live feed
  useEffect(() => {
    let stop = () => {};
    let gone = false;
    const onEvent = ({ chatEvents: ev }) => {
      if (!ev) return;
      if (ev.seq > seqRef.current) seqRef.current = ev.seq;
      if (ev.kind.startsWith('message.') && ev.message) {
        merge([ev.message]);
        if (ev.kind === 'message.created') setPending((p) => p.filter((x) => x.id !== ev.message.id));
        if (ev.message.senderId !== me.id) {
          setTyping((t) => {
            if (!(ev.message.senderId in t)) return t;
            const n = { ...t };
            delete n[ev.message.senderId];
            return n;
          });
        }
      } else if (ev.kind === 'read' && ev.userId) {
        raiseMarks([[ev.userId, ev.upToSeq]]);
      } else if (ev.kind.startsWith('participant') || ev.kind === 'chat.updated') {
        net.query(ops.GET_CHAT, { id: chatId }).then((d) => d.chat && onChatChanged(d.chat)).catch(() => {});
      }
    };
    const start = () => {
      stop = net.subscribe(ops.SUB_CHAT_EVENTS, () => ({ chatId, afterSeq: seqRef.current }), onEvent, (errs) => {
        if (gone) return;
        const code = errs[0] && errs[0].extensions && errs[0].extensions.code;
        if (code === 'RESYNC_REQUIRED') {
          // too far behind the retained log: start over from a fresh page
          seqRef.current = 0;
          setMessages([]);
          loadLatest().then(() => !gone && start());
        } else {
          setError(net.errText(errs));
        }
      });
    };
    loadLatest().then(() => !gone && start());
    const offTyping = net.subscribe(ops.SUB_TYPING, () => ({ chatId }), ({ typing: t }) => {
      if (!t || t.userId === me.id) return;
      setTyping((cur) => {
        const n = { ...cur };
        if (t.isTyping) n[t.userId] = Date.now() + TYPING_SHOW_MS;
        else delete n[t.userId];
        return n;
      });
    });
    // the read status is state, not a log entry: refetch it after a reconnect
    const offRe = net.onReconnect(() => loadReadStatus(messagesRef.current));
    return () => {
      gone = true;
      stop();
      offTyping();
      offRe();
    };
  }, [chatId, me.id, merge, raiseMarks, loadLatest, loadReadStatus, onChatChanged]);

  // expire typing indicators
  useEffect(() => {
    const ids = Object.keys(typing);
    if (!ids.length) return undefined;
    const t = setTimeout(() => {
      const now = Date.now();
      setTyping((cur) => Object.fromEntries(Object.entries(cur).filter(([, exp]) => exp > now)));
    }, 1000);
    return () => clearTimeout(t);
  }, [typing]);

  // auto-mark messages from others as read once they are on screen: the
  // newest such message inside the list's viewport, while the page is visible
  const markVisible = useCallback(() => {
    const el = listRef.current;
    if (!el || document.visibilityState !== 'visible') return;
    const box = el.getBoundingClientRect();
    let newest = 0;
    for (const li of el.querySelectorAll('li[data-theirs]')) {
      const r = li.getBoundingClientRect();
      if (r.bottom > box.top && r.top < box.bottom) newest = Math.max(newest, Number(li.dataset.seq));
    }
    if (newest > markedRef.current) {
      markedRef.current = newest;
      net.mutate(ops.MARK_CHAT_READ, { chatId, upToSeq: newest }).catch(() => {
        markedRef.current = 0; // try again on the next change
      });
    }
  }, [chatId]);
  useEffect(() => {
    const t = setTimeout(markVisible, 0); // after layout and scrolling
    document.addEventListener('visibilitychange', markVisible);
    return () => {
      clearTimeout(t);
      document.removeEventListener('visibilitychange', markVisible);
    };
  }, [messages, markVisible]);

  // scrolling: keep the bottom in view for new messages, keep position for older pages
  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    if (prevHeight.current != null) {
      el.scrollTop = el.scrollHeight - prevHeight.current;
      prevHeight.current = null;
    } else if (stickRef.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [messages, pending]);
  function onScroll(e) {
    const el = e.currentTarget;
    markVisible();
    stickRef.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 40 && hasMore && prevHeight.current == null) loadOlder().catch(() => {});
  }

  // sending
  async function send(p) {
    setPending((ps) => ps.map((x) => (x.clientId === p.clientId ? { ...x, status: 'sending' } : x)));
    try {
      const d = await net.mutate(ops.CREATE_MESSAGE, {
        in: { content: p.content, senderId: me.id, chatId, clientId: p.clientId },
      });
      merge([d.createMessage]);
      setPending((ps) => ps.filter((x) => x.clientId !== p.clientId));
    } catch (e) {
      setPending((ps) => ps.map((x) => (x.clientId === p.clientId ? { ...x, status: 'failed', error: net.errText(e) } : x)));
    }
  }
  function submit(e) {
    if (e) e.preventDefault();
    const content = draft.trim();
    if (!content) return;
    const p = { clientId: net.newId(), content, status: 'sending' };
    setPending((ps) => [...ps, p]);
    setDraft('');
    stickRef.current = true;
    stopTyping();
    send(p);
  }
  function onKeyDown(e) {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      submit();
    }
  }
  function stopTyping() {
    clearTimeout(typingTimer.current);
    if (typingSent.current) {
      typingSent.current = 0;
      net.mutate(ops.SET_TYPING, { chatId, isTyping: false }).catch(() => {});
    }
  }
  function onDraft(e) {
    setDraft(e.target.value);
    const now = Date.now();
    if (now - typingSent.current > TYPING_SEND_EVERY_MS) {
      typingSent.current = now;
      net.mutate(ops.SET_TYPING, { chatId, isTyping: true }).catch(() => {});
    }
    clearTimeout(typingTimer.current);
    typingTimer.current = setTimeout(stopTyping, TYPING_IDLE_MS);
  }
  useEffect(() => () => clearTimeout(typingTimer.current), []);

  async function saveEdit(e) {
    e.preventDefault();
    const { id, content } = editing;
    setEditing(null);
    try {
      const d = await net.mutate(ops.UPDATE_MESSAGE, { id, content, userId: me.id });
      merge([d.updateMessage]);
    } catch (err) {
      setError(net.errText(err));
    }
  }
  async function remove(id) {
    try {
      const d = await net.mutate(ops.REMOVE_MESSAGE, { id, userId: me.id });
      merge([d.removeMessage]);
    } catch (err) {
      setError(net.errText(err));
    }
  }

  const typers = Object.keys(typing).map((id) => displayName(people[id]));
  const title = chatTitle(chat, me);
  const onlineCount = others.filter((id) => online[id]).length;

  return (
    <section className="chatwindow" aria-label={`Chat ${title}`}>
      <header className="chat-head">
        <div>
          <h2>{title}</h2>
          <p className="muted">
            {chat.chatType === 'group' ? `${chat.participantIds.length} members · ` : ''}
            {onlineCount ? `${onlineCount} online` : 'nobody else online'}
          </p>
        </div>
        {chat.chatType === 'group' && <button onClick={onAddPeople}>Add people</button>}
      </header>
      {error && <p role="alert" className="error">{error} <button onClick={() => setError('')}>Dismiss</button></p>}
      <ol className="messages" ref={listRef} onScroll={onScroll} aria-label="Messages" aria-live="polite" data-loaded={loaded ? 'true' : 'false'}>
        {hasMore && <li className="more"><button onClick={() => loadOlder()}>Load older messages</button></li>}
        {messages.map((m) => {
          const mine = m.senderId === me.id;
          const read = mine && others.length > 0 && others.every((u) => (marks[u] || 0) >= m.seq);
          return (
            <li key={m.id} className={`msg${mine ? ' mine' : ''}`} data-seq={m.seq} data-testid="message" data-theirs={mine ? undefined : ''}>
              {!mine && <span className="msg-sender">{displayName(people[m.senderId])}</span>}
              {editing && editing.id === m.id ? (
                <form onSubmit={saveEdit} className="edit">
                  <label className="sr-only" htmlFor={`edit-${m.id}`}>Edit message</label>
                  <input id={`edit-${m.id}`} autoFocus value={editing.content} onChange={(e) => setEditing({ ...editing, content: e.target.value })} onKeyDown={(e) => e.key === 'Escape' && setEditing(null)} />
                  <button type="submit">Save</button>
                </form>
              ) : (
                <span className={`msg-body${m.deletedAt ? ' deleted' : ''}`} data-testid="message-body">{m.deletedAt ? 'Message deleted' : m.content}</span>
              )}
              <span className="msg-meta">
                {m.isEdited && !m.deletedAt && <span className="muted">edited </span>}
                <time dateTime={m.createdAt}>{new Date(m.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</time>
                {mine && !m.deletedAt && <ReadReceiptIndicator read={read} />}
              </span>
              {mine && !m.deletedAt && !editing && (
                <span className="msg-actions">
                  <button onClick={() => setEditing({ id: m.id, content: m.content })} aria-label="Edit message">Edit</button>
                  <button onClick={() => remove(m.id)} aria-label="Delete message">Delete</button>
                </span>
              )}
            </li>
          );
        })}
        {pending.map((p) => (
          <li key={p.clientId} className={`msg mine pending ${p.status}`} data-testid="pending">
            <span className="msg-body">{p.content}</span>
            <span className="msg-meta">
              {p.status === 'sending' ? <span className="muted">sending…</span> : (
                <>
                  <span className="error" role="alert">not sent{p.error ? `: ${p.error}` : ''}</span>
                  <button onClick={() => send(p)}>Retry</button>
                </>
              )}
            </span>
          </li>
        ))}
      </ol>
      <p className="typing" aria-live="polite" data-testid="typing">
        {typers.length ? `${typers.join(', ')} ${typers.length > 1 ? 'are' : 'is'} typing…` : '\u00a0'}
      </p>
      <form className="composer" onSubmit={submit}>
        <label htmlFor="composer" className="sr-only">Message</label>
        <textarea id="composer" rows={2} placeholder="Write a message (Enter sends, Shift+Enter new line)" value={draft} onChange={onDraft} onKeyDown={onKeyDown} />
        <button type="submit" disabled={!draft.trim()}>Send</button>
      </form>
    </section>
  );
}

function ReadReceiptIndicator({ read }) {
  return (
    <span className={`ticks ${read ? 'read' : 'unread'}`} data-testid="ticks" data-read={read ? 'true' : 'false'}
      aria-label={read ? 'Read by everyone' : 'Not read by everyone yet'} title={read ? 'Read by everyone' : 'Sent'}>
      ✓✓
    </span>
  );
}
