import { useEffect, useState } from "preact/hooks";

/** Hash routes (`#/history`, `#/task/<id>`): no server route per view, and nothing secret in them. */
export type Route =
  | { view: "playground" }
  | { view: "history" }
  | { view: "task"; id: string }
  | { view: "credits" }
  | { view: "operator"; tab: string };

export function parseRoute(hash: string): Route {
  const [view, arg] = hash.replace(/^#\/?/, "").split("/");
  if (view === "history") return { view: "history" };
  if (view === "task" && arg) return { view: "task", id: decodeURIComponent(arg) };
  if (view === "credits") return { view: "credits" };
  if (view === "operator") return { view: "operator", tab: arg || "accounts" };
  return { view: "playground" };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => {
      setRoute(parseRoute(location.hash));
      window.scrollTo(0, 0);
    };
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

export const go = (hash: string) => {
  location.hash = hash;
};
