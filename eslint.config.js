// Lint rules for rackjoin (ESLint flat config, typescript-eslint). Formatting is
// Prettier's job (.prettierrc.json); eslint-config-prettier turns off the rules
// that would fight it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import stylistic from '@stylistic/eslint-plugin';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'assets/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      eqeqeq: ['error', 'always'],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // tap runs top-level t.test() promises itself.
  {
    // Node states change only through the state machine: the progress columns'
    // writer is the lifecycle's alone (docs/lifecycle.md).
    files: ['**/*.ts'],
    ignores: ['src/lifecycle/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/inventory/progress.js'],
              message: 'node states are written by the lifecycle only (src/lifecycle); observe or reimage instead',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      // Parsed JSON from the API under test is checked by assertions, not by types.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  prettier,
  {
    // Prettier wraps code at 120; this catches what it leaves alone: comments and long expressions.
    // Long literals (test expectations, messages, SQL) stay whole where splitting would hide them.
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': [
        'error',
        { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true, ignoreStrings: true, ignoreTemplateLiterals: true },
      ],
    },
  },
);
