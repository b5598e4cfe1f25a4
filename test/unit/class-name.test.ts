import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { locateClass, MODULE_EXTENSIONS } from '../../src/executor/class-name.js';

const dirs = ['/srv/jobs', '/opt/more-jobs'];

describe('locateClass with a dotted name', () => {
  it('tries every extension in every directory, directories first', () => {
    expect(MODULE_EXTENSIONS).toEqual(['.js', '.mjs', '.cjs']);
    expect(locateClass('jobs.dummy_job.DummyJob', dirs)).toEqual({
      files: [
        join('/srv/jobs', 'jobs', 'dummy_job.js'),
        join('/srv/jobs', 'jobs', 'dummy_job.mjs'),
        join('/srv/jobs', 'jobs', 'dummy_job.cjs'),
        join('/opt/more-jobs', 'jobs', 'dummy_job.js'),
        join('/opt/more-jobs', 'jobs', 'dummy_job.mjs'),
        join('/opt/more-jobs', 'jobs', 'dummy_job.cjs'),
      ],
      exportName: 'DummyJob',
    });
  });

  it('nests every part but the last as a directory', () => {
    expect(locateClass('a.b.c.D', ['/x'])).toEqual({
      files: [
        join('/x', 'a', 'b', 'c.js'),
        join('/x', 'a', 'b', 'c.mjs'),
        join('/x', 'a', 'b', 'c.cjs'),
      ],
      exportName: 'D',
    });
  });

  it('ignores surrounding whitespace', () => {
    expect(locateClass('  mod.C\n', ['/x'])).toEqual({
      files: [join('/x', 'mod.js'), join('/x', 'mod.mjs'), join('/x', 'mod.cjs')],
      exportName: 'C',
    });
  });

  it('gives no files when there is no jobs directory', () => {
    expect(locateClass('mod.C', [])).toEqual({ files: [], exportName: 'C' });
  });
});

describe('locateClass with a file#export name', () => {
  it('joins a relative file to each jobs directory', () => {
    expect(locateClass('path/to/mod.js#C', dirs)).toEqual({
      files: [join('/srv/jobs', 'path/to/mod.js'), join('/opt/more-jobs', 'path/to/mod.js')],
      exportName: 'C',
    });
  });

  it('uses an absolute file as it is, once', () => {
    expect(locateClass('/abs/mod.mjs#$Job_2', dirs)).toEqual({
      files: ['/abs/mod.mjs'],
      exportName: '$Job_2',
    });
  });

  it('splits at the last #', () => {
    expect(locateClass('odd#dir/mod.js#C', ['/x'])).toEqual({
      files: [join('/x', 'odd#dir/mod.js')],
      exportName: 'C',
    });
  });
});

describe('locateClass refuses', () => {
  const dottedForms =
    'is not of the form module.path.ClassName ' +
    '(e.g. jobs.dummy_job.DummyJob) or path/to/module.js#ClassName';
  const hashForm = 'is not of the form path/to/module.js#ClassName';

  it.each(['DummyJob', 'a..B', 'a.b-c.D', '.A', 'A.', '1a.B', ''])(
    '"%s" with both expected forms in the message',
    (className) => {
      expect(() => locateClass(className, dirs)).toThrow(
        new Error(`class_name "${className}" ${dottedForms}`),
      );
    },
  );

  it.each(['mod.js#', '#C', 'mod.js#1x', 'mod.js#a.B', 'mod.js# '])(
    '"%s" with the file#export form in the message',
    (className) => {
      expect(() => locateClass(className, dirs)).toThrow(
        new Error(`class_name "${className}" ${hashForm}`),
      );
    },
  );
});
