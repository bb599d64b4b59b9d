// The little of Node's test runner the end-to-end tests use (the package has no dependencies,
// so no @types/node).
declare module "node:test" {
  export function test(name: string, run: () => Promise<void> | void): void;
}
declare module "node:assert/strict" {
  const assert: {
    equal(actual: unknown, expected: unknown, message?: string): void;
    notEqual(actual: unknown, expected: unknown, message?: string): void;
    deepEqual(actual: unknown, expected: unknown, message?: string): void;
    ok(value: unknown, message?: string): asserts value;
    rejects(promise: Promise<unknown>, check: (error: unknown) => boolean): Promise<void>;
  };
  export default assert;
}
declare const process: { env: Record<string, string | undefined> };
declare module "node:http" {
  export type IncomingHttpHeaders = Record<string, string | string[] | undefined>;
  export interface Server {
    listen(port: number, host: string, ready: () => void): void;
    address(): { port: number };
    close(): void;
  }
  export function createServer(
    handle: (
      request: { headers: IncomingHttpHeaders },
      response: { writeHead(status: number, headers?: Record<string, string>): void; end(body?: string): void },
    ) => void,
  ): Server;
}
