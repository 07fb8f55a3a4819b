import next from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

const config = [
  ...next,
  ...nextTs,
  {
    ignores: [".next/**", "dist/**", ".cache/**", "e2e/.auth/**", "src/generated/**", ".piksel/**", "playwright-report/**", "test-results/**", "next-env.d.ts", "public/**"],
  },
  {
    rules: {
      // STYLE.md 3: configuration is read in one place (src/server/config.ts).
      "no-restricted-properties": ["error", { object: "process", property: "env", message: "Read configuration through src/server/config.ts (STYLE.md 3)." }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // The few places allowed to read the process environment: the config loader, the CLI entry,
    // build and test scripts.
    files: ["src/server/config.ts", "src/server/config/**", "src/instrumentation.ts", "scripts/**", "*.config.*", "tests/**", "e2e/**", "bench/**", "src/cli/**"],
    rules: { "no-restricted-properties": "off" },
  },
  {
    // UI code must not reach infrastructure (STYLE.md Avoid).
    files: ["src/features/*/ui/**", "src/app/**/*.tsx", "src/components/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["~/generated/*", "@prisma/*", "pg", "~/server/*"], message: "UI code talks to the server only through tRPC (STYLE.md)." },
      ] }],
    },
  },
];

export default config;
