// files.js — attachments (docs/api.md "Files"): uploads go to the sender
// role in use (POST /files, raw body, XMLHttpRequest for progress and
// cancel; a network failure moves to the other sender once), downloads come
// from the receiver in use (Attachment.url / thumbnailUrl are paths with a
// signed token). Whether the server has attachments at all is probed once
// at start (features.attachments), so the client also runs against a server
// without them.
import * as net from './net.js';

export const MAX_ATTACHMENTS = 10; // per message (the server's limit)
export const MAX_FILE_BYTES = 25 * 1024 * 1024; // CHATD_MAX_FILE_BYTES default; the server decides

export const fileUrl = (path) => `http://${net.config.host}:${net.portOf('receiver')}${path}`;

/**
 * Uploads one File. Returns { promise, abort }; promise resolves to the
 * server's answer {id, contentType, size, width, height, name} and rejects
 * with an Error (err.code from the server's {"error":{"code"}}, or 'ABORTED').
 */
export function uploadFile(file, onProgress) {
  let xhr = null;
  let aborted = false;
  const attempt = async (left) => {
    const token = await net.validToken();
    return new Promise((resolve, reject) => {
      xhr = new XMLHttpRequest();
      const port = net.portOf('sender');
      xhr.open('POST', `http://${net.config.host}:${port}/files?name=${encodeURIComponent(file.name || 'file')}`);
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress && onProgress(e.loaded / e.total);
      xhr.onload = () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON */
        }
        if (xhr.status === 201 && body && body.id) return resolve(body);
        const err = new Error((body && body.error && body.error.message) || `Upload failed (HTTP ${xhr.status})`);
        err.code = body && body.error && body.error.code;
        reject(err);
      };
      xhr.onerror = () => {
        if (aborted) return;
        if (left > 0) {
          net.failoverService('sender');
          attempt(left - 1).then(resolve, reject);
        } else {
          reject(new Error('Upload failed: the server cannot be reached'));
        }
      };
      xhr.onabort = () => {
        const err = new Error('Upload cancelled');
        err.code = 'ABORTED';
        reject(err);
      };
      xhr.send(file);
    });
  };
  const promise = attempt(net.config.sender.length - 1);
  return {
    promise,
    abort() {
      aborted = true;
      if (xhr) xhr.abort();
    },
  };
}

export function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
