// An in-memory host for unit tests: a CommandRunner that records every
// command (as RecordingRunner) and also carries it out on a small model of
// the kernel's links, addresses, routes, policy rules and sysctls, so a test
// can check what the host ends up with, not only what was run. It reads the
// command lines that ip.ts writes and fails like the kernel does: deleting
// something absent, touching a missing link or sysctl; and like the kernel, a
// device that loses its last IPv4 address loses its IPv4 routes. `nft` is recorded
// (with its input) and answers nothing.

import { CommandError, RecordingRunner } from './command.js';

export interface FakeLink {
  mtu: number;
  up: boolean;
  tunnelMode: boolean;
}

/** The model, in text: address and route lines as `ip` takes them. */
export interface FakeHostSnapshot {
  links: Record<string, FakeLink>;
  addresses: string[];
  routes: string[];
  rules: string[];
  sysctls: Record<string, string>;
}

const fail = (line: string, why: string): never => {
  throw new CommandError(line, 2, why);
};

export class FakeHost extends RecordingRunner {
  readonly links = new Map<string, FakeLink>();
  /** "CIDR dev NAME" */
  readonly addresses = new Set<string>();
  /** "CIDR dev NAME table T" */
  readonly routes = new Set<string>();
  /** Rules in the order added; the kernel keeps duplicates. */
  readonly rules: string[] = [];
  readonly sysctls: Map<string, string>;

  constructor(init: { links?: string[]; sysctls?: Record<string, string> } = {}) {
    super();
    for (const name of init.links ?? []) this.links.set(name, { mtu: 1500, up: false, tunnelMode: false });
    this.sysctls = new Map(Object.entries(init.sysctls ?? {}));
  }

  override async run(command: string, args: readonly string[], options?: { input?: string }): Promise<string> {
    await super.run(command, args, options);
    return this.execute(command, args);
  }

  snapshot(): FakeHostSnapshot {
    return {
      links: Object.fromEntries([...this.links].map(([name, l]) => [name, { ...l }])),
      addresses: [...this.addresses].sort(),
      routes: [...this.routes].sort(),
      rules: [...this.rules].sort(),
      sysctls: Object.fromEntries([...this.sysctls].sort()),
    };
  }

  private execute(command: string, args: readonly string[]): string {
    const line = [command, ...args].join(' ');
    if (command === 'sysctl') return this.sysctl(line, args);
    if (command === 'nft') return '';
    if (command !== 'ip') return fail(line, `unknown command ${command}`);
    const [family, object, op, ...rest] = args;
    if (family === 'link') return this.link(line, args);
    if (family !== '-4' && family !== '-6') return fail(line, 'no family');
    if (object === 'rule') {
      const rule = `${family} ${rest.join(' ')}`;
      if (op === 'add') this.rules.push(rule);
      else if (op === 'del') {
        const i = this.rules.indexOf(rule);
        if (i < 0) fail(line, 'RTNETLINK answers: No such file or directory');
        this.rules.splice(i, 1);
      } else fail(line, `unknown op ${op}`);
      return '';
    }
    const [cidr, devWord, dev, ...more] = rest;
    if (devWord !== 'dev' || dev === undefined || !this.links.has(dev)) return fail(line, 'Cannot find device');
    if (object === 'address') {
      this.change(line, this.addresses, `${cidr} dev ${dev}`, op);
      // As the kernel: a device left without IPv4 addresses loses its IPv4 routes, in every table.
      const v4 = (item: string) => item.split(' ')[2] === dev && !item.includes(':');
      if (op === 'del' && family === '-4' && ![...this.addresses].some(v4))
        for (const route of this.routes) if (v4(route)) this.routes.delete(route);
      return '';
    }
    if (object === 'route') {
      const table = more[0] === 'table' ? more[1] : 'main';
      return this.change(line, this.routes, `${cidr} dev ${dev} table ${table}`, op);
    }
    return fail(line, `unknown object ${object}`);
  }

  private change(line: string, set: Set<string>, item: string, op: string | undefined): string {
    if (op === 'replace') set.add(item);
    else if (op === 'del' && set.has(item)) set.delete(item);
    else fail(line, 'RTNETLINK answers: Cannot assign requested address');
    return '';
  }

  private link(line: string, args: readonly string[]): string {
    const [, op, , name, ...what] = args;
    const link = this.links.get(name ?? '');
    if (link === undefined) return fail(line, `Cannot find device "${name}"`);
    if (op === 'del') {
      this.links.delete(name!);
      // The kernel takes the link's addresses and routes (in every table) along.
      for (const set of [this.addresses, this.routes])
        for (const item of set) if (item.split(' ')[2] === name) set.delete(item);
      return '';
    }
    if (what[0] === 'mtu') link.mtu = Number(what[1]);
    else if (what[0] === 'addrgenmode') link.tunnelMode = true;
    else if (what[0] === 'up' || what[0] === 'down') link.up = what[0] === 'up';
    else fail(line, 'unknown link setting');
    return '';
  }

  private sysctl(line: string, args: readonly string[]): string {
    if (args[0] === '-n') {
      const value = this.sysctls.get(args[1]!);
      return value === undefined ? fail(line, `cannot stat /proc/sys/${args[1]}`) : `${value}\n`;
    }
    const [key, value] = args[2]!.split('=') as [string, string];
    if (!this.sysctls.has(key)) fail(line, `cannot stat /proc/sys/${key}`);
    this.sysctls.set(key, value);
    return '';
  }
}
