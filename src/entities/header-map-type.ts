import { Type } from '@mikro-orm/core';
import { decodeHeaderMap, encodeHeaderMap } from '../core/header-log.ts';

/** A header map in a text column, in core/header-log.ts's compact form (an attempt's request and response headers). */
export class HeaderMapType extends Type<Record<string, string> | null, string | null> {
  override convertToDatabaseValue(value: Record<string, string> | string | null): string | null {
    if (value == null) return null;
    // A string is already the stored form (MikroORM passes values it read back, e.g. when it
    // compares or re-saves an entity it loaded).
    return typeof value === 'string' ? value : encodeHeaderMap(value);
  }

  override convertToJSValue(value: string | Record<string, string> | null): Record<string, string> | null {
    if (value == null) return null;
    return typeof value === 'string' ? decodeHeaderMap(value) : value;
  }

  override getColumnType(): string {
    return 'text';
  }

  override compareAsType(): string {
    return 'string';
  }

  override get runtimeType(): string {
    return 'object';
  }
}
