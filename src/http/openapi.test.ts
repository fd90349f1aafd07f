/**
 * The therapist API's OpenAPI document follows the route table: every route under /api/v1 is an
 * operation with its method, operation id, scope and the errors its row can answer; every body and
 * answer has an example, and the examples are what the API itself takes and gives.
 */
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { checkAgainst } from '../api/request-validation.js';
import type { RequestSchemaName } from '../api/schemas.js';
import { API_BASE, openApiDocument } from './openapi.js';
import { ROUTES, type RouteAccess } from './routes.js';

interface Operation {
  operationId: string;
  'x-kap-scope'?: string;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: { $ref: string }; example: unknown }> };
  responses: Record<
    string,
    { $ref?: string; content?: Record<string, { schema: { $ref: string }; example: unknown }> }
  >;
  security: unknown[];
}

const doc = openApiDocument as unknown as {
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, object>;
    responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }>;
  };
};
const api = Object.entries(ROUTES as Record<string, RouteAccess>).filter(
  ([name, a]) => a.path.startsWith(`${API_BASE}/`) && name !== 'openApi',
);
const operationOf = (access: RouteAccess): Operation | undefined =>
  doc.paths[access.path.slice(API_BASE.length).replace(/:(\w+)/g, '{$1}')]?.[access.method.toLowerCase()];
const schemaName = (ref: string) => ref.replace('#/components/schemas/', '');

test('every route of the API, and nothing else, is an operation named as its route', () => {
  const fromTable = api.map(
    ([name, a]) => `${a.method} ${a.path.slice(API_BASE.length).replace(/:(\w+)/g, '{$1}')} ${name}`,
  );
  const inDocument = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`),
  );
  expect(inDocument.sort()).toEqual(fromTable.sort());
});

describe.each(api)('%s', (_name, access) => {
  const op = operationOf(access)!;

  test('carries the scope of its row and needs a bearer token', () => {
    expect(op['x-kap-scope']).toBe(Array.isArray(access.scope) ? access.scope.join('.') : undefined);
    expect(op.security).toEqual([{ bearer: [] }]);
  });

  test('answers its errors as OperationOutcomes: 400, 401, 403, 429 always, 404 for its path object, the body refusals for a body', () => {
    const statuses = Object.keys(op.responses).filter((s) => Number(s) >= 400);
    const expected = ['400', '401', '403', '429'];
    if (access.owner) expected.push('404');
    if (op.requestBody) expected.push('409', '413', '415', '422');
    expect(statuses).toEqual(expect.arrayContaining(expected));
    for (const status of statuses) {
      const response = doc.components.responses[op.responses[status]!.$ref!.split('/').pop()!]!;
      expect(response.content['application/fhir+json']!.schema.$ref).toBe(
        '#/components/schemas/OperationOutcome',
      );
    }
  });

  test('its request example is a body the API takes', () => {
    const body = op.requestBody?.content['application/json'];
    if (access.method === 'GET') {
      expect(body).toBeUndefined();
      return;
    }
    expect(body?.example).toBeDefined();
    expect(() =>
      checkAgainst(schemaName(body!.schema.$ref) as RequestSchemaName, body!.example),
    ).not.toThrow();
  });

  test('each answer has an example that fits its schema', () => {
    const ajv = new Ajv({ strict: false });
    (addFormats as unknown as (a: Ajv) => void)(ajv);
    const answers = Object.entries(op.responses).filter(([s]) => Number(s) < 300);
    expect(answers.length).toBeGreaterThan(0);
    for (const [status, answer] of answers) {
      const { schema, example } = answer.content!['application/json']!;
      const validate = ajv.compile(doc.components.schemas[schemaName(schema.$ref)]!);
      expect({ status, valid: validate(example), errors: validate.errors ?? null }).toEqual({
        status,
        valid: true,
        errors: null,
      });
    }
  });
});
