/**
 * Next.js start-up hook: the console server process runs the promotion engine (observer + workflow)
 * and the request engine (submits and tracks product requests' Jobs).
 * Only in the Node.js runtime, never while building.
 */
export async function register() {
  // NEXT_RUNTIME is set by Next.js, not configuration (eslint.config.mjs lets this file read it).
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { startPromotionEngine } = await import("./features/promotion/server/promotion.engine");
  startPromotionEngine();
  const { startRequestEngine } = await import("./features/requests/server/request.engine");
  startRequestEngine();
}
