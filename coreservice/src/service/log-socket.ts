// Plugin logs over socket.io, as Magellon's React client reads them: it emits `join_plugin_room`
// `{plugin_id}` (with an ack) and listens to `plugin_log`; the ack is `{ok: true, room:
// "plugin:<id>"}` or `{ok: false, error}`, each line one `plugin_log` `{plugin_id, replica, line,
// id}` (`{plugin_id, error: true, line}` when its log cannot be read or the plugin goes).
// `leave_plugin_room` stops it. The handshake passes the same Host/Origin check as every HTTP
// request, and must carry the admin token (`auth: {token}`, or `Authorization: Bearer`).
import type { Server as HttpServer } from 'node:http';
import { escapeControl } from '@magellon/hub-core/text';
import { Server } from 'socket.io';
import { InstallError } from '../errors';
import { lastIdParam, tailParam } from './app';
import type { LogStreams } from './log-streams';
import { sameToken } from './token';

export interface LogSocketOptions {
  token: string;
  /** Why a request is refused (app.ts's requestGuard), or undefined. */
  guard: (host: string | undefined, origin: string | undefined) => string | undefined;
  allowedOrigins?: readonly string[];
  logStreams: LogStreams;
  log?: (entry: Record<string, unknown>) => void;
}

type Ack = (answer: Record<string, unknown>) => void;

/** The token a handshake carries: `auth.token`, else a bearer Authorization header. */
function handshakeToken(auth: unknown, authorization: string | undefined): string | undefined {
  const given = (auth as { token?: unknown } | undefined)?.token;
  if (typeof given === 'string') return given;
  return /^Bearer (.+)$/i.exec(authorization ?? '')?.[1];
}

/** Starts socket.io on `server` at /socket.io/; close it before the HTTP server. */
export function attachLogSocket(server: HttpServer, opts: LogSocketOptions): Server {
  const io = new Server(server, {
    path: '/socket.io/',
    serveClient: false,
    // Pages of the allowed origins only (the guard refuses the others before anything else).
    ...(opts.allowedOrigins?.length ? { cors: { origin: [...opts.allowedOrigins] } } : {}),
    allowRequest: (req, done) => {
      const refused = opts.guard(req.headers.host, req.headers.origin);
      done(refused ?? null, refused === undefined);
    },
  });
  io.use((socket, next) => {
    const token = handshakeToken(socket.handshake.auth, socket.handshake.headers.authorization);
    if (token !== undefined && sameToken(token, opts.token)) return next();
    next(
      new Error('unauthorized: a valid admin token is required (auth: {token} or Authorization: Bearer …)'),
    );
  });
  io.on('connection', (socket) => {
    /** The plugins this socket follows, and how to leave each. */
    const joined = new Map<string, () => void>();
    const reply = (ack: unknown, answer: Record<string, unknown>) => {
      if (typeof ack === 'function') (ack as Ack)(answer);
    };
    const idOf = (payload: unknown): string => {
      const id = (payload as { plugin_id?: unknown } | null)?.plugin_id;
      if (typeof id !== 'string' || id === '') throw new InstallError('bad-request', 'plugin_id is required');
      return id;
    };
    socket.on('join_plugin_room', (payload: unknown, ack: unknown) => {
      try {
        const id = idOf(payload);
        const p = payload as { tail?: unknown; last_id?: unknown };
        const tail = tailParam(p.tail);
        const after = lastIdParam(p.last_id);
        const room = `plugin:${id}`;
        if (!joined.has(id)) {
          const leave = opts.logStreams.subscribe(
            id,
            { tail, after },
            {
              line: (l) => socket.emit('plugin_log', l),
              gap: (missed) =>
                socket.emit('plugin_log', {
                  plugin_id: id,
                  gap: missed,
                  line: `(${missed} lines are no longer kept)`,
                }),
              end: (why, failed) => {
                joined.delete(id);
                socket.emit('plugin_log', {
                  plugin_id: id,
                  error: failed,
                  end: true,
                  line: escapeControl(why),
                });
              },
            },
          );
          joined.set(id, leave);
        }
        reply(ack, { ok: true, room });
      } catch (err) {
        const message = err instanceof InstallError ? err.message : 'CoreService failed; its log says why';
        if (!(err instanceof InstallError))
          opts.log?.({ level: 'error', msg: 'socket.io join failed', error: (err as Error).message });
        reply(ack, { ok: false, error: escapeControl(message) });
      }
    });
    socket.on('leave_plugin_room', (payload: unknown, ack: unknown) => {
      const id = (payload as { plugin_id?: unknown } | null)?.plugin_id;
      const leave = typeof id === 'string' ? joined.get(id) : undefined;
      leave?.();
      if (typeof id === 'string') joined.delete(id);
      reply(ack, {
        ok: leave !== undefined,
        ...(leave ? { room: `plugin:${id}` } : { error: 'not in that room' }),
      });
    });
    socket.on('disconnect', () => {
      for (const leave of joined.values()) leave();
      joined.clear();
    });
  });
  return io;
}
