// A small route table for the client HTTP API: method + path pattern →
// handler. It knows nothing of keys or members; the API supplies the
// patterns and what they extract.
//
// Rules the API relies on:
//   - Routes are tried in table order; the first whose pattern matches the
//     path owns it, whatever the method. A path owned by a route but asked
//     with another method is a 405 with that route's Allow list (the methods
//     in the order the route lists them), never a fall-through to a later
//     route or to a 404.
//   - A pattern sees the raw path (no URL normalisation: keys are exactly
//     what the client sent) and may throw to refuse it (a malformed key or
//     member ID is a 400): parameters are checked before the method, so a bad
//     key is reported as such whatever the method.

/** A handler for one method of one route. */
export type RouteHandler<C, P> = (call: C, params: P) => Promise<void> | void;

/** Matches a raw path: its parameters, or undefined when the route does not own the path. */
export type PathPattern<P> = (path: string) => P | undefined;

export interface Route<C, P> {
  readonly pattern: PathPattern<P>;
  /** Method → handler, in the order the Allow header lists them. */
  readonly methods: ReadonlyMap<string, RouteHandler<C, P>>;
  /** The Allow header of a 405 on this route. */
  readonly allow: string;
}

/** A route: a path pattern and its handlers by method (listed in Allow order). */
export function route<C, P>(
  pattern: PathPattern<P>,
  methods: Record<string, RouteHandler<C, P>>,
): Route<C, P> {
  const m = new Map(Object.entries(methods));
  return { pattern, methods: m, allow: [...m.keys()].join(", ") };
}

/** What the table says about a request. */
export type RouteMatch<C, P> =
  | { readonly kind: "handler"; readonly handler: RouteHandler<C, P>; readonly params: P }
  | { readonly kind: "method not allowed"; readonly allow: string }
  | { readonly kind: "no route" };

const NO_ROUTE = { kind: "no route" } as const;

export class Router<C, P> {
  private readonly routes: readonly Route<C, P>[];

  constructor(routes: readonly Route<C, P>[]) {
    this.routes = routes;
  }

  /** The first route owning `path` decides (see the rules above); a pattern's exception propagates. */
  find(method: string, path: string): RouteMatch<C, P> {
    for (const r of this.routes) {
      const params = r.pattern(path);
      if (params === undefined) continue;
      const handler = r.methods.get(method);
      if (handler === undefined) return { kind: "method not allowed", allow: r.allow };
      return { kind: "handler", handler, params };
    }
    return NO_ROUTE;
  }
}

/** A pattern owning exactly the given paths, with no parameters. */
export function exact<P>(params: P, ...paths: string[]): PathPattern<P> {
  return (path) => (paths.includes(path) ? params : undefined);
}
