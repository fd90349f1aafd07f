import { logCapture } from '../test/support/phi.js';
import { createLogger } from './log.js';

test("an error's name is logged; a name anywhere else is redacted", () => {
  const log = logCapture();
  createLogger('info', log.stream).warn(
    {
      err: { name: 'EhrError', message: 'timeout', body: 'Ana Ruiz' },
      patient: { name: 'Ana Ruiz' },
      name: 'Tomás',
    },
    'failed',
  );
  const [line] = log.lines().map((l) => JSON.parse(l));
  expect(line).toMatchObject({
    err: { name: 'EhrError', message: 'timeout', body: '[redacted]' },
    patient: { name: '[redacted]' },
    name: '[redacted]',
  });
});
