// Crash cleanup. Each namespace gets a marker /run/meshgate-test/<ns> (JSON: owner
// pid and its start time, files to remove). removeStaleNamespaces() removes
// namespaces whose marker names an owner process that no longer exists; namespaces
// without our marker, or whose owner is alive, are never touched.

import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { processStartTime, signal } from './process.js';
import { sleepSync } from './sleep.js';

export const MARKER_DIR = '/run/meshgate-test';
export const WG_RUN_DIR = '/var/run/wireguard';
export const MESHGATE_RUN_DIR = '/var/run/meshgate';
/** The client agents' state files (client/client-state.ts). */
export const MESHGATE_STATE_DIR = '/var/lib/meshgate';
/** Only files under these directories may be listed in a marker for removal. */
export const REMOVABLE_DIRS = [WG_RUN_DIR, MESHGATE_RUN_DIR, MESHGATE_STATE_DIR];
/** A test's file there: its name starts with mg (a device) or client-mg (an agent's state file). */
export const isTestFileName = (name: string): boolean => name.startsWith('mg') || name.startsWith('client-mg');
export const NS_PREFIX = 'mg-';

export interface Marker {
  ownerPid: number;
  ownerStart: string | null;
  scene: string;
  createdAt: string;
  /** Files (control sockets) to remove with the namespace. */
  files: string[];
}

export function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export async function nsPids(name: string): Promise<number[]> {
  const r = await execa('ip', ['netns', 'pids', name], { reject: false });
  if (r.exitCode !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
}

export function removeNamespaceSync(name: string): void {
  let pids: number[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
  } catch {
    // namespace already gone
  }
  for (const pid of pids) signal(pid, 'SIGKILL');
  if (pids.length > 0) sleepSync(50);
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/**
 * Removes namespaces whose harness marker names an owner process that is gone
 * (with their leftover processes and control sockets). Scene.create() calls it once
 * per process; namespaces without a marker, or with a live owner, are never touched.
 */
export async function removeStaleNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of listDir(MARKER_DIR)) {
    if (!name.startsWith(NS_PREFIX)) continue;
    const file = path.join(MARKER_DIR, name);
    let marker: Marker;
    try {
      marker = JSON.parse(fs.readFileSync(file, 'utf8')) as Marker;
    } catch {
      continue; // not ours, or being written
    }
    if (typeof marker.ownerPid !== 'number') continue;
    const start = processStartTime(marker.ownerPid);
    // owner still running (the same process, not a later one with a reused pid)
    if (start !== null && (start === marker.ownerStart || marker.ownerStart === null)) continue;
    removeNamespaceSync(name);
    for (const f of marker.files ?? []) {
      if (REMOVABLE_DIRS.includes(path.dirname(f)) && isTestFileName(path.basename(f))) fs.rmSync(f, { force: true });
    }
    fs.rmSync(file, { force: true });
    removed.push(name);
  }
  return removed;
}

/** Creates or extends the marker of namespace `ns` (owner: this process), adding `addFile` to its files. */
export function writeMarker(ns: string, sceneId: string, addFile?: string): void {
  fs.mkdirSync(MARKER_DIR, { recursive: true, mode: 0o700 });
  const file = path.join(MARKER_DIR, ns);
  let marker: Marker;
  try {
    marker = JSON.parse(fs.readFileSync(file, 'utf8')) as Marker;
  } catch {
    marker = {
      ownerPid: process.pid,
      ownerStart: processStartTime(process.pid),
      scene: sceneId,
      createdAt: new Date().toISOString(),
      files: [],
    };
  }
  if (addFile) marker.files.push(addFile);
  fs.writeFileSync(file, JSON.stringify(marker) + '\n', { mode: 0o600 });
}

export function removeMarker(ns: string): void {
  fs.rmSync(path.join(MARKER_DIR, ns), { force: true });
}
