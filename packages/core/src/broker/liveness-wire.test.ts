import { describe, expect, it } from 'vitest';
import {
  livenessHeaders,
  livenessRoutingKey,
  MAX_LIVENESS_MESSAGE_BYTES,
  matchesInstalled,
  parseLivenessMessage,
  parseLivenessRoutingKey,
} from './liveness-wire';

const beat = {
  plugin_id: 'CTF Plugin',
  plugin_version: '1.2.0',
  category: 'ctf',
  instance_id: 'a1',
  ts: '2026-01-01T00:00:00Z',
  status: 'ready',
};

describe('the SDK’s liveness wire format', () => {
  it('routing keys: the category in lower case (spaces kept), the plugin’s own name, parsed back', () => {
    const key = livenessRoutingKey('announce', 'Particle Picking', 'Template Picker');
    expect(key).toBe('magellon.plugins.announce.particle picking.Template Picker');
    expect(parseLivenessRoutingKey(key)).toEqual({
      kind: 'announce',
      category: 'particle picking',
      plugin: 'Template Picker',
    });
    expect(parseLivenessRoutingKey('magellon.plugins.heartbeat.ctf.a.b')).toEqual({
      kind: 'heartbeat',
      category: 'ctf',
      plugin: 'a.b',
    });
    for (const bad of [
      'magellon.plugins.config.ctf',
      'magellon.plugins.heartbeat.ctf',
      'magellon.tasks.ctf.x',
      'magellon.plugins.announce..x',
    ])
      expect(parseLivenessRoutingKey(bad), bad).toBeUndefined();
  });

  it('the ce-* headers and properties the SDK’s binder sets', () => {
    expect(
      livenessHeaders('heartbeat', 'magellon.plugins.heartbeat.ctf.x', 'id-1', '2026-01-01T00:00:00+00:00'),
    ).toEqual({
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'id-1',
        'ce-source': 'magellon/plugin/discovery',
        'ce-type': 'magellon.plugin.heartbeat.v1',
        'ce-time': '2026-01-01T00:00:00+00:00',
        'ce-subject': 'magellon.plugins.heartbeat.ctf.x',
      },
      properties: { contentType: 'application/json', deliveryMode: 2 },
    });
  });

  it('bodies: extra fields let through, bad ones a reason (never an exception)', () => {
    const ok = parseLivenessMessage(
      'magellon.plugins.heartbeat.ctf.CTF Plugin',
      JSON.stringify({ ...beat, extra: [1] }),
    );
    expect(ok).toEqual({
      ok: true,
      message: {
        kind: 'heartbeat',
        plugin_id: 'CTF Plugin',
        plugin_version: '1.2.0',
        category: 'ctf',
        instance_id: 'a1',
        status: 'ready',
      },
    });
    const announce = parseLivenessMessage(
      'magellon.plugins.announce.ctf.CTF Plugin',
      JSON.stringify({ ...beat, manifest: { info: {} }, backend_id: 'ctffind4', http_endpoint: null }),
      { 'ce-type': 'magellon.plugin.announce.v1' },
    );
    expect(announce.ok && announce.message.backend_id).toBe('ctffind4');
    const why = (key: string, body: string, headers?: Record<string, unknown>) => {
      const r = parseLivenessMessage(key, body, headers);
      return r.ok ? 'ok' : r.why;
    };
    const key = 'magellon.plugins.heartbeat.ctf.x';
    expect(why(key, 'nope')).toBe('the body is not JSON');
    expect(why(key, JSON.stringify({ ...beat, instance_id: undefined }))).toMatch(/^instance_id:/);
    expect(why(key, JSON.stringify({ ...beat, plugin_id: 'x'.repeat(201) }))).toMatch(/^plugin_id:/);
    expect(why(key, JSON.stringify(beat), { 'ce-type': 'magellon.plugin.announce.v1' })).toMatch(/ce-type/);
    expect(why(key, ' '.repeat(MAX_LIVENESS_MESSAGE_BYTES + 1))).toMatch(/larger than/);
    expect(why('other.key', JSON.stringify(beat))).toMatch(/routing key/);
  });
});

describe('matchesInstalled (Magellon’s rule)', () => {
  const m = (plugin_id: string, category: string, backend_id?: string) => ({
    plugin_id,
    category,
    backend_id,
  });
  it('says which field recognised the plugin', () => {
    expect(matchesInstalled({ plugin_id: 'ctf', category: 'ctf' }, m('ctf', 'x'))).toBe('plugin_id');
    expect(matchesInstalled({ plugin_id: 'ctf', category: 'ctf' }, m('CTF Plugin', 'ctf'))).toBe('category');
    expect(
      matchesInstalled(
        { plugin_id: 'topaz', category: 'particle_picking' },
        m('Topaz Picker', 'particle picking'),
      ),
    ).toBe('name');
    expect(
      matchesInstalled(
        { plugin_id: 'pp', category: 'particle_picking', name: 'Template Picker' },
        m('template_picker', 'particle picking'),
      ),
    ).toBe('name');
    expect(
      matchesInstalled(
        { plugin_id: 'template-picker', category: 'particle_picking' },
        m('Picker', 'particle picking', 'Template_Picker'),
      ),
    ).toBe('backend_id');
    expect(
      matchesInstalled(
        { plugin_id: 'tp', category: 'particle_picking', backend_id: 'tmpl' },
        m('Picker', 'particle picking', 'TMPL'),
      ),
    ).toBe('backend_id');
  });

  it('does not match another plugin of the same category, nor short ids inside names', () => {
    expect(
      matchesInstalled(
        { plugin_id: 'topaz', category: 'particle_picking' },
        m('Template Picker', 'particle picking'),
      ),
    ).toBeUndefined();
    expect(
      matchesInstalled({ plugin_id: 'ctf', category: 'ctf' }, m('CTF Plugin', 'motioncor')),
    ).toBeUndefined();
    // A short id (under 4 characters) is not looked for inside names.
    expect(matchesInstalled({ plugin_id: 'fft', category: 'fft' }, m('FFTW Tool', 'ctf'))).toBeUndefined();
  });
});
