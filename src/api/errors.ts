// One error handler: every error leaves the API as { error, message } with a 4xx
// (or 500) code, and every domain error maps to its status here and nowhere else.
import type { FastifyError, FastifyInstance } from 'fastify';
import { TemplateError } from '../boot/templates.js';
import { SiteCheckError } from '../findings.js';
import { ConfigError } from '../config.js';
import { InventoryFileError } from '../inventory/files.js';
import { InventoryError } from '../inventory/store.js';
import { ReimageError } from '../lifecycle/reimage.js';
import { didYouMean } from '../suggest.js';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const INVENTORY_STATUS = { not_found: 404, conflict: 409, invalid: 400 } as const;
const REIMAGE_STATUS = { conflict: 409, invalid: 400 } as const;

/** The status and body a domain error maps to; null for errors that are not ours. */
function domainError(err: Error): { status: number; error: string } | null {
  if (err instanceof ApiError) return { status: err.statusCode, error: err.code };
  if (err instanceof InventoryError) return { status: INVENTORY_STATUS[err.code], error: err.code };
  if (err instanceof ReimageError) return { status: REIMAGE_STATUS[err.code], error: err.code };
  if (err instanceof InventoryFileError || err instanceof ConfigError || err instanceof SiteCheckError)
    return { status: 400, error: 'invalid' };
  return null;
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    const mapped = domainError(err);
    if (mapped) return reply.code(mapped.status).send({ error: mapped.error, message: err.message });
    // A template that does not render is the operator's to fix; the node gets an error, never half a config.
    if (err instanceof TemplateError) {
      req.log.error({ template: err.template, line: err.line, err: err.message }, 'template failed');
      return reply.code(500).send({ error: 'template', message: err.message });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply
        .code(400)
        .send({ error: 'bad_request', message: `${fe.validationContext ?? 'request'}${humanValidation(fe)}` });
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send({ error: fe.code?.toLowerCase() ?? 'bad_request', message: fe.message });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error; see the daemon log' });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );
}

function humanValidation(err: FastifyError): string {
  return err
    .validation!.map((v) => {
      const params = v.params as Record<string, unknown>;
      const where = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
      const key = (k: unknown) => `.${where ? `${where}.` : ''}${String(k)}`;
      if (v.keyword === 'additionalProperties') {
        const allowed = Object.keys((v as { parentSchema?: { properties?: object } }).parentSchema?.properties ?? {});
        return `${key(params.additionalProperty)}: unknown key${didYouMean(String(params.additionalProperty), allowed)}`;
      }
      if (v.keyword === 'required') return `${key(params.missingProperty)}: is required`;
      if (v.keyword === 'enum') return `.${where}: must be one of ${(params.allowedValues as string[]).join(', ')}`;
      return `${where ? `.${where}` : ''}: ${v.message}`;
    })
    .join('; ');
}
