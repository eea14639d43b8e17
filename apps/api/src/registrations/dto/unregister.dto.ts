import { AppIdField, AppSecretField, InstanceUrlField, TagField } from './registration-fields';

/** Body of POST /unregister (form or JSON); other fields are ignored. */
export class UnregisterDto {
  @InstanceUrlField()
  instance_url: string;

  @TagField()
  tag: string;

  @AppIdField()
  app_id: string;

  @AppSecretField()
  app_secret: string;
}
