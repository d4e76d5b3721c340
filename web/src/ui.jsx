// ui.jsx — small pieces both screens use (the chat list in App.jsx and the
// open chat in ChatWindow.jsx): names of users and chats, and the modal.
import { useEffect } from 'react';

export function displayName(u) {
  return u ? u.displayName || u.username : '?';
}
export function chatTitle(chat, me) {
  if (chat.chatType === 'direct') {
    const other = (chat.participants || []).find((p) => p.id !== me.id);
    if (other) return displayName(other);
  }
  return chat.name;
}

export function Modal({ title, onClose, children }) {
  useEffect(() => {
    const k = (e) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', k);
    return () => window.removeEventListener('keydown', k);
  }, [onClose]);
  return (
    <div className="backdrop">
      <div role="dialog" aria-modal="true" aria-label={title} className="modal">
        <h2>{title}</h2>
        {children}
      </div>
    </div>
  );
}
