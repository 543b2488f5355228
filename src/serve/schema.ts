/** Request / response JSON schemas: used by fastify for validation and in /openapi.json. */

export const ENTITY_SCHEMA = {
  type: 'object',
  required: ['start', 'end', 'text', 'label', 'score'],
  properties: {
    start: { type: 'integer', description: 'UTF-16 offset of the first character' },
    end: { type: 'integer', description: 'UTF-16 offset after the last character (exclusive)' },
    text: { type: 'string' },
    label: { type: 'string' },
    score: { type: 'number' },
  },
} as const;

export function entitiesRequestSchema(limits: { maxTexts: number; maxLabels: number }) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['labels'],
    properties: {
      text: { type: 'string', description: 'one text (give text or texts)' },
      texts: { type: 'array', items: { type: 'string' }, description: `several texts, at most ${limits.maxTexts}` },
      labels: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: `entity types, at most ${limits.maxLabels}` },
      threshold: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
      flatNer: { type: 'boolean', default: true, description: 'false allows nested entities' },
      multiLabel: { type: 'boolean', default: false },
    },
  };
}

export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'stable: invalid_json, invalid_request, payload_too_large, too_many_texts, text_too_long, too_many_labels, unsupported_media_type, queue_full, not_ready, shutting_down, timeout, not_found, internal' },
        message: { type: 'string' },
        field: { type: 'string', description: 'the offending field, e.g. threshold or texts[3]' },
      },
    },
  },
} as const;

export function openApiDocument(limits: { maxTexts: number; maxLabels: number; maxTextLength: number; bodyLimit: number }, version: string) {
  const error = (d: string) => ({ description: d, content: { 'application/json': { schema: ERROR_SCHEMA } } });
  return {
    openapi: '3.1.0',
    info: { title: 'gliner-tf serve', version, description: 'GLiNER named entity recognition for any entity type.' },
    paths: {
      '/v1/entities': {
        post: {
          summary: 'Entities of the given types in one text or several',
          requestBody: { required: true, content: { 'application/json': { schema: entitiesRequestSchema(limits) } } },
          responses: {
            200: {
              description: '`entities` is a list for `text`, a list of lists (one per text) for `texts`',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['entities'],
                    properties: { entities: { oneOf: [{ type: 'array', items: ENTITY_SCHEMA }, { type: 'array', items: { type: 'array', items: ENTITY_SCHEMA } }] } },
                  },
                },
              },
            },
            400: error('malformed JSON or a field of the wrong type or range (`field` names it)'),
            413: error(`body over ${limits.bodyLimit} bytes, more than ${limits.maxTexts} texts, a text over ${limits.maxTextLength} characters or more than ${limits.maxLabels} labels`),
            415: error('Content-Type is not application/json'),
            503: error('queue full, model not ready or shutting down; see Retry-After'),
            504: error('the request took longer than the per-request timeout'),
          },
        },
      },
      '/healthz': { get: { summary: 'the process is up', responses: { 200: { description: 'ok' } } } },
      '/readyz': { get: { summary: 'the model is loaded and warmed up', responses: { 200: { description: 'ready' }, 503: { description: 'not ready' } } } },
      '/metrics': { get: { summary: 'Prometheus text-format metrics', responses: { 200: { description: 'metrics', content: { 'text/plain': {} } } } } },
      '/': { get: { summary: 'the demo page', responses: { 200: { description: 'HTML', content: { 'text/html': {} } } } } },
    },
  };
}
