// ChatWindow.jsx — one open chat. History is Query.messages in the
// normalised cache (cache.js merges every page and live event into one list
// per chat, by id, in seq order): the newest page first, older pages by
// beforeSeq when scrolled to the top (fetchMore). The live feed is
// chatEvents(chatId, afterSeq) through useSubscription; its afterSeq is
// recomputed on every reconnect (context.resume, net.js), so nothing is missed
// and nothing shown twice. Optimistic sends with retry (clientId makes the
// retry idempotent), edit/delete of own messages, replies (quoted preview,
// jump to the original), reactions (picker, counts, who), typing, ticks
// (✓ sent, ✓✓ gray delivered to every other member, ✓✓ blue read by all),
// auto-mark-as-read of messages on screen, members with roles and the
// owner/admin actions, rename, leave; a back button on narrow screens.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { useApolloClient, useMutation, useQuery, useSubscription } from '@apollo/client/react';
import * as net from './net.js';
import * as ops from './ops.js';
import { chatTitle, displayName, Modal } from './ui.jsx';
import { fileUrl, formatSize, MAX_ATTACHMENTS, uploadFile } from './files.js';

const PAGE = 30; // messages per history page
const TYPING_SEND_EVERY_MS = 2500; // resend isTyping:true at most this often
const TYPING_IDLE_MS = 3000; // isTyping:false after this long without a key
const TYPING_SHOW_MS = 6000; // hide someone's indicator without a refresh
const JUMP_MAX_PAGES = 40; // older pages loaded at most to reach a jump target
const FLASH_MS = 4000; // how long a jumped-to message stays highlighted
const EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢'];
const ROLE_LABEL = { OWNER: 'owner', ADMIN: 'admin', MEMBER: 'member' };

export function ChatWindow({ chat, me, online, jumpTo, onBack, onAddPeople, onLeft }) {
  const client = useApolloClient();
  const chatId = chat.id;
  const [pending, setPending] = useState([]); // {clientId, content, replyTo, status}
  const [marks, setMarks] = useState({}); // userId -> read watermark (seq)
  const [dmarks, setDmarks] = useState({}); // userId -> delivered watermark (seq)
  const [hasMore, setHasMore] = useState(false);
  const [typing, setTyping] = useState({}); // userId -> expiry ms
  const [draft, setDraft] = useState('');
  const [replyTo, setReplyTo] = useState(null); // message
  const [editing, setEditing] = useState(null); // {id, content}
  const [picker, setPicker] = useState(null); // message id with the open emoji picker
  const [panel, setPanel] = useState(null); // 'members' | 'rename'
  const [flash, setFlash] = useState(null); // message id highlighted after a jump
  const [error, setError] = useState('');
  const [uploads, setUploads] = useState([]); // {key, name, size, progress, status, id, error, abort}
  const [viewer, setViewer] = useState(null); // attachment shown full size
  const fileInput = useRef(null);
  const [live, setLive] = useState(false); // history loaded: the feed may start
  const [epoch, setEpoch] = useState(0); // bumps to restart the feed after RESYNC_REQUIRED
  const seqRef = useRef(0); // newest chat seq applied
  const markedRef = useRef(0); // newest seq we marked read
  const listRef = useRef(null);
  const stickRef = useRef(true); // keep scrolled to the bottom
  const prevHeight = useRef(null);
  const typingSent = useRef(0);
  const typingTimer = useRef(null);
  const others = chat.participantIds.filter((id) => id !== me.id);
  const people = Object.fromEntries((chat.participants || []).map((p) => [p.id, p]));
  if (!people[me.id]) people[me.id] = me;

  const [createMessage] = useMutation(ops.CREATE_MESSAGE);
  const [updateMessage] = useMutation(ops.UPDATE_MESSAGE);
  const [removeMessage] = useMutation(ops.REMOVE_MESSAGE);
  const [addReaction] = useMutation(ops.ADD_REACTION);
  const [removeReaction] = useMutation(ops.REMOVE_REACTION);
  const [markRead] = useMutation(ops.MARK_CHAT_READ);
  const [markDelivered] = useMutation(ops.MARK_CHAT_DELIVERED);
  const [setTypingM] = useMutation(ops.SET_TYPING);

  // history: one cached list per chat; the first page from the network
  const { data, error: loadError, fetchMore, refetch } = useQuery(ops.GET_MESSAGES, {
    variables: { chatId, limit: PAGE },
    fetchPolicy: 'network-only',
    nextFetchPolicy: 'cache-first',
  });
  const messages = data ? data.messages : [];
  const messagesRef = useRef(messages);
  messagesRef.current = messages;

  const raise = (setter) => (pairs) => {
    setter((mk) => {
      let n = mk;
      for (const [u, s] of pairs) if ((n[u] || 0) < s) n = { ...n, [u]: s };
      return n;
    });
  };
  const raiseMarks = useCallback(raise(setMarks), []); // eslint-disable-line react-hooks/exhaustive-deps
  const raiseDelivered = useCallback(raise(setDmarks), []); // eslint-disable-line react-hooks/exhaustive-deps

  // read + delivered status of own messages → the others' watermarks
  const loadReadStatus = useCallback(async (list) => {
    const own = list.filter((m) => m.senderId === me.id && !m.deletedAt);
    if (!own.length) return;
    try {
      const { data: d } = await client.query({ query: ops.readStatusQuery(own.map((m) => m.id)), fetchPolicy: 'no-cache' });
      const read = [];
      const dlv = [];
      own.forEach((m, i) => {
        const st = d[`r${i}`];
        if (!st) return;
        for (const r of st.readByUsers) read.push([r.userId, m.seq]);
        for (const r of st.deliveredToUsers) dlv.push([r.userId, m.seq]);
      });
      raiseMarks(read);
      raiseDelivered(dlv);
    } catch {
      /* ticks stay as they are until the next event */
    }
  }, [client, me.id, raiseMarks, raiseDelivered]);

  // the feed starts after the chat's lastSeq as of the first page
  useEffect(() => {
    let gone = false;
    setLive(false);
    (async () => {
      try {
        const { data: c } = await client.query({ query: ops.GET_CHAT, variables: { id: chatId }, fetchPolicy: 'network-only' });
        const page = await refetch();
        if (gone) return;
        if (c.chat) seqRef.current = Math.max(seqRef.current, c.chat.lastSeq || 0);
        const ms = page.data ? page.data.messages : [];
        setHasMore(ms.length >= PAGE);
        setLive(true);
        loadReadStatus(ms);
      } catch (e) {
        if (!gone) setError(net.errText(e));
      }
    })();
    return () => {
      gone = true;
    };
  }, [chatId, epoch]); // eslint-disable-line react-hooks/exhaustive-deps

  // one older page before beforeSeq (default: the oldest held); returns its messages
  const loadOlder = useCallback(async (beforeSeq) => {
    const ms = messagesRef.current;
    const before = beforeSeq ?? (ms.length ? ms[0].seq : null);
    if (before == null) return [];
    const el = listRef.current;
    prevHeight.current = el ? el.scrollHeight - el.scrollTop : null;
    const r = await fetchMore({ variables: { chatId, limit: PAGE, beforeSeq: before } });
    const got = r.data ? r.data.messages : [];
    setHasMore(got.length >= PAGE);
    loadReadStatus(got);
    return got;
  }, [chatId, fetchMore, loadReadStatus]);

  const refreshChat = useCallback(() => {
    // the Chat entity is normalised: the list, title and roles follow
    client.query({ query: ops.GET_CHAT, variables: { id: chatId }, fetchPolicy: 'network-only' }).catch(() => {});
    if (panel === 'members') client.refetchQueries({ include: [ops.GET_MEMBERS] }).catch(() => {});
  }, [client, chatId, panel]);

  // live feed
  useSubscription(ops.SUB_CHAT_EVENTS, {
    skip: !live,
    variables: { chatId, epoch },
    context: { resume: () => ({ chatId, afterSeq: seqRef.current }) },
    onData: ({ data: { data: d } }) => {
      const ev = d && d.chatEvents;
      if (!ev) return;
      if (ev.seq > seqRef.current) seqRef.current = ev.seq;
      if (ev.message && (ev.kind.startsWith('message.') || ev.kind === 'reaction')) {
        const m = ev.message;
        client.cache.writeQuery({ query: ops.GET_MESSAGES, variables: { chatId, limit: PAGE }, data: { messages: [m] } });
        if (ev.kind === 'message.created' && m.senderId !== me.id) {
          setTyping((t) => {
            if (!(m.senderId in t)) return t;
            const n = { ...t };
            delete n[m.senderId];
            return n;
          });
          if (m.type !== 'system') markDelivered({ variables: { chatId, upToSeq: m.seq } }).catch(() => {});
        }
        if (m.type === 'system') refreshChat();
      } else if (ev.kind === 'read' && ev.userId) {
        raiseMarks([[ev.userId, ev.upToSeq]]);
        raiseDelivered([[ev.userId, ev.upToSeq]]);
      } else if (ev.kind === 'delivered' && ev.userId) {
        raiseDelivered([[ev.userId, ev.upToSeq]]);
      } else if (ev.kind.startsWith('participant') || ev.kind === 'chat.updated') {
        refreshChat();
      }
    },
    onError: (e) => {
      const errs = (e && e.errors) || [e];
      const code = errs[0] && errs[0].extensions && errs[0].extensions.code;
      if (code === 'RESYNC_REQUIRED') {
        // too far behind the retained log: start over from a fresh page
        seqRef.current = 0;
        client.cache.evict({ id: 'ROOT_QUERY', fieldName: 'messages', args: { chatId } });
        setEpoch((x) => x + 1);
      } else {
        setError(net.errText(e));
      }
    },
  });

  useSubscription(ops.SUB_TYPING, {
    variables: { chatId },
    onData: ({ data: { data: d } }) => {
      const t = d && d.typing;
      if (!t || t.userId === me.id) return;
      setTyping((cur) => {
        const n = { ...cur };
        if (t.isTyping) n[t.userId] = Date.now() + TYPING_SHOW_MS;
        else delete n[t.userId];
        return n;
      });
    },
  });

  // the read status is state, not a log entry: refetch it after a reconnect
  useEffect(() => net.onReconnect(() => loadReadStatus(messagesRef.current)), [loadReadStatus]);

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
    if (!el || document.visibilityState !== 'visible' || el.offsetParent === null) return;
    const box = el.getBoundingClientRect();
    let newest = 0;
    for (const li of el.querySelectorAll('li[data-theirs]')) {
      const r = li.getBoundingClientRect();
      if (r.bottom > box.top && r.top < box.bottom) newest = Math.max(newest, Number(li.dataset.seq));
    }
    if (newest > markedRef.current) {
      markedRef.current = newest;
      markRead({ variables: { chatId, upToSeq: newest } }).catch(() => {
        markedRef.current = 0; // try again on the next change
      });
    }
  }, [chatId, markRead]);
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
    if (el.scrollTop < 40 && hasMore && prevHeight.current == null && !scrollTo.current) loadOlder().catch(() => {});
  }

  // jump to a message (a reply's original, a search result): load older
  // pages until it is there, then scroll it into view and highlight it
  const scrollTo = useRef(null);
  const jump = useCallback(async (messageId, seq) => {
    const ms = messagesRef.current;
    let oldest = ms.length ? ms[0].seq : null;
    let found = ms.some((m) => m.id === messageId);
    for (let i = 0; !found && oldest != null && (seq == null || oldest > seq) && i < JUMP_MAX_PAGES; i++) {
      const got = await loadOlder(oldest);
      if (!got.length) break;
      oldest = Math.min(oldest, ...got.map((m) => m.seq));
      found = got.some((m) => m.id === messageId);
    }
    stickRef.current = false;
    scrollTo.current = messageId;
    setFlash(messageId);
  }, [loadOlder]);
  useEffect(() => {
    if (live && jumpTo) jump(jumpTo.messageId, jumpTo.seq).catch(() => {});
  }, [live, jumpTo, jump]);
  useEffect(() => {
    const id = scrollTo.current;
    const li = id && listRef.current && listRef.current.querySelector(`li[data-id="${id}"]`);
    if (li) {
      scrollTo.current = null;
      prevHeight.current = null;
      li.scrollIntoView({ block: 'center' });
    }
  });
  useEffect(() => {
    if (!flash) return undefined;
    const t = setTimeout(() => setFlash(null), FLASH_MS);
    return () => clearTimeout(t);
  }, [flash]);

  // sending
  async function send(p) {
    setPending((ps) => ps.map((x) => (x.clientId === p.clientId ? { ...x, status: 'sending' } : x)));
    try {
      const { data: d } = await createMessage({
        variables: {
          in: {
            content: p.content, senderId: me.id, chatId, clientId: p.clientId, replyToId: p.replyTo ? p.replyTo.id : null,
            ...(p.attachments.length ? { attachments: p.attachments.map((a) => a.id) } : {}),
          },
        },
      });
      client.cache.writeQuery({ query: ops.GET_MESSAGES, variables: { chatId, limit: PAGE }, data: { messages: [d.createMessage] } });
      setPending((ps) => ps.filter((x) => x.clientId !== p.clientId));
    } catch (e) {
      setPending((ps) => ps.map((x) => (x.clientId === p.clientId ? { ...x, status: 'failed', error: net.errText(e) } : x)));
    }
  }
  function submit(e) {
    if (e) e.preventDefault();
    const content = draft.trim();
    const files = uploads.filter((u) => u.status === 'done');
    if (uploads.some((u) => u.status === 'uploading')) return;
    if (!content && !files.length) return;
    const p = { clientId: net.newId(), content, replyTo, attachments: files, status: 'sending' };
    setPending((ps) => [...ps, p]);
    setDraft('');
    setUploads([]);
    setReplyTo(null);
    stickRef.current = true;
    stopTyping();
    send(p);
  }
  function onKeyDown(e) {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape' && replyTo) {
      setReplyTo(null);
    }
  }
  function stopTyping() {
    clearTimeout(typingTimer.current);
    if (typingSent.current) {
      typingSent.current = 0;
      setTypingM({ variables: { chatId, isTyping: false } }).catch(() => {});
    }
  }
  function onDraft(e) {
    setDraft(e.target.value);
    const now = Date.now();
    if (now - typingSent.current > TYPING_SEND_EVERY_MS) {
      typingSent.current = now;
      setTypingM({ variables: { chatId, isTyping: true } }).catch(() => {});
    }
    clearTimeout(typingTimer.current);
    typingTimer.current = setTimeout(stopTyping, TYPING_IDLE_MS);
  }
  useEffect(() => () => clearTimeout(typingTimer.current), []);

  // attachments: button, drag-and-drop, paste; each file uploads at once with progress and cancel
  const patchUpload = (key, patch) => setUploads((us) => us.map((u) => (u.key === key ? { ...u, ...patch } : u)));
  function addFiles(list) {
    if (!net.features.attachments) return;
    const files = [...list].slice(0, Math.max(0, MAX_ATTACHMENTS - uploads.length));
    if (list.length > files.length) setError(`A message has at most ${MAX_ATTACHMENTS} attachments`);
    for (const file of files) {
      const key = net.newId();
      const up = uploadFile(file, (progress) => patchUpload(key, { progress }));
      setUploads((us) => [...us, { key, name: file.name || 'file', size: file.size, progress: 0, status: 'uploading', abort: up.abort }]);
      up.promise.then(
        (r) => patchUpload(key, { status: 'done', progress: 1, id: r.id }),
        (e) => (e.code === 'ABORTED' ? setUploads((us) => us.filter((u) => u.key !== key)) : patchUpload(key, { status: 'failed', error: e.message })),
      );
    }
  }
  function dropUpload(u) {
    if (u.status === 'uploading') u.abort();
    setUploads((us) => us.filter((x) => x.key !== u.key));
  }
  const onDragOver = (e) => {
    if (net.features.attachments && e.dataTransfer && [...e.dataTransfer.types].includes('Files')) e.preventDefault();
  };
  const onDrop = (e) => {
    if (!net.features.attachments || !e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    addFiles(e.dataTransfer.files);
  };
  const onPaste = (e) => {
    if (net.features.attachments && e.clipboardData && e.clipboardData.files.length) {
      e.preventDefault();
      addFiles(e.clipboardData.files);
    }
  };

  const act = (f) => f().catch((err) => setError(net.errText(err)));
  function saveEdit(e) {
    e.preventDefault();
    const { id, content } = editing;
    setEditing(null);
    act(() => updateMessage({ variables: { id, content, userId: me.id } }));
  }
  const remove = (id) => act(() => removeMessage({ variables: { id, userId: me.id } }));
  const toggleReaction = (m, emoji) => {
    setPicker(null);
    const g = m.reactions.find((r) => r.emoji === emoji);
    const mine = g && g.reactedByMe;
    act(() => (mine ? removeReaction : addReaction)({ variables: { id: m.id, emoji } }));
  };
  const startReply = (m) => {
    setReplyTo(m);
    document.getElementById('composer')?.focus();
  };

  const typers = Object.keys(typing).map((id) => displayName(people[id]));
  const title = chatTitle(chat, me);
  const onlineCount = others.filter((id) => online[id]).length;
  const isGroup = chat.chatType === 'group';
  const canManage = isGroup && (chat.myRole === 'OWNER' || chat.myRole === 'ADMIN');
  const canRename = !isGroup || canManage;
  const stateOf = (m) => {
    if (!others.length) return 'sent';
    if (others.every((u) => (marks[u] || 0) >= m.seq)) return 'read';
    if (others.every((u) => Math.max(dmarks[u] || 0, marks[u] || 0) >= m.seq)) return 'delivered';
    return 'sent';
  };

  return (
    <section className="chatwindow" aria-label={`Chat ${title}`} onDragOver={onDragOver} onDrop={onDrop}>
      <header className="chat-head">
        <button className="back" onClick={onBack} aria-label="Back to chats">←</button>
        <div className="chat-title">
          <h2 data-testid="chat-title">{title}</h2>
          <p className="muted">
            {isGroup ? `${chat.memberCount ?? chat.participantIds.length} members · ` : ''}
            {onlineCount ? `${onlineCount} online` : 'nobody else online'}
            {isGroup && chat.myRole && chat.myRole !== 'MEMBER' ? ` · you are ${ROLE_LABEL[chat.myRole]}` : ''}
          </p>
        </div>
        <div className="chat-actions">
          {isGroup && <button onClick={() => setPanel(panel === 'members' ? null : 'members')} aria-pressed={panel === 'members'}>Members</button>}
          {canManage && <button onClick={onAddPeople}>Add people</button>}
          {canRename && <button onClick={() => setPanel('rename')}>Rename</button>}
          {isGroup && <LeaveButton chatId={chatId} title={title} onLeft={onLeft} onError={setError} />}
        </div>
      </header>
      {error && <p role="alert" className="error">{error} <button onClick={() => setError('')}>Dismiss</button></p>}
      {loadError && !error && <p role="alert" className="error">{net.errText(loadError)}</p>}
      <div className="chat-body">
        <ol className="messages" ref={listRef} onScroll={onScroll} aria-label="Messages" aria-live="polite" data-loaded={live ? 'true' : 'false'}>
          {hasMore && <li className="more"><button onClick={() => loadOlder().catch(() => {})}>Load older messages</button></li>}
          {messages.map((m) => {
            const mine = m.senderId === me.id;
            const system = m.type === 'system';
            if (system) {
              return <li key={m.id} className="msg system" data-seq={m.seq} data-id={m.id} data-testid="system-message">{m.content}</li>;
            }
            const st = mine ? stateOf(m) : null;
            return (
              <li key={m.id} className={`msg${mine ? ' mine' : ''}${flash === m.id ? ' flash' : ''}`} data-seq={m.seq} data-id={m.id} data-testid="message" data-theirs={mine ? undefined : ''}>
                {!mine && <span className="msg-sender">{displayName(people[m.senderId])}</span>}
                {m.replyToId && <Quote m={m.replyTo} people={people} onJump={() => m.replyTo && jump(m.replyTo.id, m.replyTo.seq)} />}
                {editing && editing.id === m.id ? (
                  <form onSubmit={saveEdit} className="edit">
                    <label className="sr-only" htmlFor={`edit-${m.id}`}>Edit message</label>
                    <input id={`edit-${m.id}`} autoFocus value={editing.content} onChange={(e) => setEditing({ ...editing, content: e.target.value })} onKeyDown={(e) => e.key === 'Escape' && setEditing(null)} />
                    <button type="submit">Save</button>
                  </form>
                ) : (
                  (m.content || m.deletedAt || !(m.attachments && m.attachments.length)) && (
                    <span className={`msg-body${m.deletedAt ? ' deleted' : ''}`} data-testid="message-body">{m.deletedAt ? 'Message deleted' : m.content}</span>
                  )
                )}
                {!m.deletedAt && m.attachments && m.attachments.length > 0 && <Attachments list={m.attachments} onOpen={setViewer} />}
                {!m.deletedAt && m.reactions && m.reactions.length > 0 && (
                  <span className="reactions" data-testid="reactions">
                    {m.reactions.map((r) => (
                      <button key={r.emoji} className={`reaction${r.reactedByMe ? ' mine' : ''}`} aria-pressed={r.reactedByMe}
                        data-testid="reaction" data-emoji={r.emoji} onClick={() => toggleReaction(m, r.emoji)}
                        title={r.users.map(displayName).join(', ') + (r.count > r.users.length ? ` and ${r.count - r.users.length} more` : '')}
                        aria-label={`${r.emoji} ${r.count}: ${r.users.map(displayName).join(', ')}`}>
                        {r.emoji} <span className="count">{r.count}</span>
                      </button>
                    ))}
                  </span>
                )}
                <span className="msg-meta">
                  {m.isEdited && !m.deletedAt && <span className="muted">edited </span>}
                  <time dateTime={m.createdAt}>{new Date(m.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</time>
                  {mine && !m.deletedAt && <ReadReceiptIndicator state={st} />}
                </span>
                {!m.deletedAt && !editing && (
                  <span className="msg-actions">
                    <button onClick={() => startReply(m)} aria-label="Reply">Reply</button>
                    <button onClick={() => setPicker(picker === m.id ? null : m.id)} aria-label="React" aria-expanded={picker === m.id}>React</button>
                    {mine && <button onClick={() => setEditing({ id: m.id, content: m.content })} aria-label="Edit message">Edit</button>}
                    {mine && <button onClick={() => remove(m.id)} aria-label="Delete message">Delete</button>}
                  </span>
                )}
                {picker === m.id && (
                  <span className="picker-pop" role="group" aria-label="Pick a reaction">
                    {EMOJI.map((e) => <button key={e} onClick={() => toggleReaction(m, e)} aria-label={`React ${e}`}>{e}</button>)}
                  </span>
                )}
              </li>
            );
          })}
          {pending.map((p) => (
            <li key={p.clientId} className={`msg mine pending ${p.status}`} data-testid="pending">
              {p.replyTo && <Quote m={p.replyTo} people={people} />}
              <span className="msg-body">{p.content}</span>
              {p.attachments.length > 0 && <span className="muted">{p.attachments.map((a) => a.name).join(', ')}</span>}
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
        {panel === 'members' && <MembersPanel chat={chat} me={me} online={online} onClose={() => setPanel(null)} onError={setError} />}
      </div>
      {panel === 'rename' && <RenameDialog chat={chat} onClose={() => setPanel(null)} />}
      <p className="typing" aria-live="polite" data-testid="typing">
        {typers.length ? `${typers.join(', ')} ${typers.length > 1 ? 'are' : 'is'} typing…` : '\u00a0'}
      </p>
      {replyTo && (
        <div className="replying" data-testid="replying">
          <span>Replying to <b>{displayName(people[replyTo.senderId])}</b>: {replyTo.content.slice(0, 80)}</span>
          <button onClick={() => setReplyTo(null)} aria-label="Cancel reply">✕</button>
        </div>
      )}
      {uploads.length > 0 && (
        <ul className="uploads" aria-label="Attachments">
          {uploads.map((u) => (
            <li key={u.key} className={`upload ${u.status}`} data-testid="upload" data-status={u.status}>
              <span className="upload-name">{u.name} <span className="muted">{formatSize(u.size)}</span></span>
              {u.status === 'uploading' && <progress max={1} value={u.progress} aria-label={`Uploading ${u.name}`} />}
              {u.status === 'failed' && <span className="error" role="alert">{u.error}</span>}
              <button type="button" onClick={() => dropUpload(u)} aria-label={`${u.status === 'uploading' ? 'Cancel' : 'Remove'} ${u.name}`}>✕</button>
            </li>
          ))}
        </ul>
      )}
      <form className="composer" onSubmit={submit}>
        {net.features.attachments && (
          <>
            <input ref={fileInput} type="file" multiple hidden data-testid="file-input" onChange={(e) => { addFiles(e.target.files); e.target.value = ''; }} />
            <button type="button" className="attach" onClick={() => fileInput.current.click()} aria-label="Attach files" title="Attach files (or drop or paste them)">📎</button>
          </>
        )}
        <label htmlFor="composer" className="sr-only">Message</label>
        <textarea id="composer" rows={2} placeholder="Write a message (Enter sends, Shift+Enter new line)" value={draft} onChange={onDraft} onKeyDown={onKeyDown} onPaste={onPaste} />
        <button type="submit" disabled={uploads.some((u) => u.status === 'uploading') || (!draft.trim() && !uploads.some((u) => u.status === 'done'))}>Send</button>
      </form>
      {viewer && (
        <Modal title={viewer.name || 'Image'} onClose={() => setViewer(null)}>
          <img className="full" src={fileUrl(viewer.url)} alt={viewer.name || 'image'} data-testid="full-image" />
          <div className="actions">
            <a href={fileUrl(viewer.url)} download={viewer.name || ''}>Download</a>
            <button type="button" onClick={() => setViewer(null)}>Close</button>
          </div>
        </Modal>
      )}
    </section>
  );
}

// the quoted original of a reply; a click jumps to it
function Quote({ m, people, onJump }) {
  if (!m) return <span className="quote muted" data-testid="quote">Original not available</span>;
  const text = m.deletedAt ? 'Message deleted' : m.content;
  return (
    <button type="button" className="quote" data-testid="quote" onClick={onJump} disabled={!onJump} aria-label={`Reply to ${displayName(people[m.senderId])}: ${text.slice(0, 60)} (show original)`}>
      <span className="quote-who">{displayName(people[m.senderId])}</span>
      <span className="quote-text">{text.length > 120 ? `${text.slice(0, 120)}…` : text}</span>
    </button>
  );
}

// ✓ sent · ✓✓ gray delivered to every other member · ✓✓ blue read by all
function ReadReceiptIndicator({ state }) {
  const label = state === 'read' ? 'Read by everyone' : state === 'delivered' ? 'Delivered to everyone' : 'Sent';
  return (
    <span className={`ticks ${state === 'read' ? 'read' : 'unread'}`} data-testid="ticks" data-state={state} data-read={state === 'read' ? 'true' : 'false'}
      aria-label={label} title={label}>
      {state === 'sent' ? '✓' : '✓✓'}
    </span>
  );
}

function LeaveButton({ chatId, title, onLeft, onError }) {
  const [leaveChat] = useMutation(ops.LEAVE_CHAT);
  const [confirming, setConfirming] = useState(false);
  if (!confirming) return <button onClick={() => setConfirming(true)}>Leave</button>;
  return (
    <span className="confirm" role="group" aria-label="Leave chat">
      Leave {title}?
      <button onClick={() => leaveChat({ variables: { chatId } }).then(onLeft, (e) => { setConfirming(false); onError(net.errText(e)); })}>Yes, leave</button>
      <button onClick={() => setConfirming(false)}>Cancel</button>
    </span>
  );
}

function RenameDialog({ chat, onClose }) {
  const [name, setName] = useState(chat.name);
  const [error, setError] = useState('');
  const [updateChat] = useMutation(ops.UPDATE_CHAT);
  async function submit(e) {
    e.preventDefault();
    try {
      await updateChat({ variables: { in: { id: chat.id, name: name.trim() } } });
      onClose();
    } catch (err) {
      setError(net.errText(err));
    }
  }
  return (
    <Modal title="Rename chat" onClose={onClose}>
      <form onSubmit={submit}>
        <label>Chat name<input name="chatName" autoFocus required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} /></label>
        {error && <p role="alert" className="error">{error}</p>}
        <div className="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit">Save</button>
        </div>
      </form>
    </Modal>
  );
}

// members with roles; the owner changes roles, owner and admins remove
function MembersPanel({ chat, me, online, onClose, onError }) {
  const { data, refetch } = useQuery(ops.GET_MEMBERS, { variables: { id: chat.id }, fetchPolicy: 'network-only' });
  const [setRole] = useMutation(ops.SET_ROLE);
  const [removeParticipant] = useMutation(ops.REMOVE_PARTICIPANT);
  const edges = data && data.chat ? data.chat.members.edges : [];
  const myRole = chat.myRole;
  const act = (p) => p.then(() => refetch(), (e) => onError(net.errText(e)));
  return (
    <aside className="members" aria-label="Members">
      <div className="members-head">
        <h3>Members{data && data.chat ? ` (${data.chat.members.totalCount})` : ''}</h3>
        <button onClick={onClose} aria-label="Close members">✕</button>
      </div>
      <ul>
        {edges.map(({ node: { user: u, role } }) => {
          const self = u.id === me.id;
          const vars = { chatId: chat.id, userId: u.id };
          return (
            <li key={u.id} data-testid="member" data-user={u.username} data-role={role}>
              <span className="member-name">
                {online[u.id] && <span className="online-dot" aria-label="online" />}
                {displayName(u)}{self ? ' (you)' : ''}
              </span>
              <span className={`role role-${role.toLowerCase()}`} data-testid="role">{ROLE_LABEL[role]}</span>
              {!self && myRole === 'OWNER' && (
                <span className="member-actions">
                  {role === 'MEMBER' && <button onClick={() => act(setRole({ variables: { ...vars, role: 'ADMIN' } }))}>Make admin</button>}
                  {role === 'ADMIN' && <button onClick={() => act(setRole({ variables: { ...vars, role: 'MEMBER' } }))}>Make member</button>}
                  <button onClick={() => act(setRole({ variables: { ...vars, role: 'OWNER' } }))}>Make owner</button>
                </span>
              )}
              {!self && (myRole === 'OWNER' || (myRole === 'ADMIN' && role === 'MEMBER')) && (
                <button className="remove" onClick={() => act(removeParticipant({ variables: vars }))} aria-label={`Remove ${displayName(u)}`}>Remove</button>
              )}
            </li>
          );
        })}
      </ul>
    </aside>
  );
}

// images inline (thumbnail; a click opens the full view), other files as download cards
function Attachments({ list, onOpen }) {
  return (
    <span className="attachments">
      {list.map((a) => (a.thumbnailUrl || (a.contentType.startsWith('image/') && a.width) ? (
        <button key={a.id} type="button" className="att-image" onClick={() => onOpen(a)} aria-label={`Open image ${a.name || ''}`.trim()}>
          <img src={fileUrl(a.thumbnailUrl || a.url)} alt={a.name || 'image'} data-testid="attachment-image" loading="lazy" />
        </button>
      ) : (
        <a key={a.id} className="att-file" href={fileUrl(a.url)} download={a.name || ''} data-testid="attachment-file">
          <span aria-hidden="true">📄</span> <span className="att-name">{a.name || 'file'}</span> <span className="muted">{formatSize(a.size)}</span>
        </a>
      )))}
    </span>
  );
}
